/**
 * What the lifecycle starts and stops (src/daemon/lifecycle.ts). It lives on the ground floor so
 * a stage can be a component without importing the daemon that composes it.
 */
export interface Component {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
