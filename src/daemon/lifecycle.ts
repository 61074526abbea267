/**
 * Start and stop of the daemon's components.
 *
 *   start:  components in registration order (store, uplink, pipeline, source, health ...),
 *           abortable: a signal during start-up stops what already started and resolves
 *           without READY. READY=1 goes to systemd only after the last one has started.
 *   stop:   STOPPING=1, then components by ascending `stopRank` (source 0, pipeline flush 1,
 *           store 2, uplink 3 with a final offline status, health last), each bounded by what
 *           is left of the stop deadline (5 s). Calling stop twice returns the same promise.
 *   signals: the first SIGTERM/SIGINT stops and exits 0; a second one exits at once (128+n).
 *   crash:  an uncaught exception or unhandled rejection is logged, a bounded stop flushes
 *           what it can, and the process exits 1 so systemd's Restart=on-failure restarts it.
 *           It never carries on in an unknown state.
 */
import type { Component } from '../core/component.js';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import type { Notifier } from './sd-notify.js';

export type { Component } from '../core/component.js';

export const STOP_RANK = { source: 0, pipeline: 1, store: 2, uplink: 3, health: 4 } as const;
export const STOP_DEADLINE_MS = 5000;
/** Time the crash path gives the components to flush before exiting anyway. */
export const CRASH_STOP_MS = 2000;

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;

export type LifecycleState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface LifecycleOptions {
  log: Logger;
  notifier?: Notifier;
  stopDeadlineMs?: number;
  /** Consulted before every watchdog ping. */
  healthy?: () => boolean;
}

interface Entry {
  readonly component: Component;
  readonly stopRank: number;
  readonly order: number;
  started: boolean;
}

export class StartAborted extends Error {
  constructor(reason: string) {
    super(`start-up interrupted: ${reason}`);
    this.name = 'StartAborted';
  }
}

export class Lifecycle {
  private readonly entries: Entry[] = [];
  private readonly log: Logger;
  private readonly notifier: Notifier | undefined;
  private readonly stopDeadlineMs: number;
  private readonly healthy: (() => boolean) | undefined;
  private readonly startAbort = new AbortController();
  private stopPromise: Promise<boolean> | undefined;
  private stateValue: LifecycleState = 'new';
  readonly startedAtMs = Date.now();

  constructor(options: LifecycleOptions) {
    this.log = options.log;
    this.notifier = options.notifier;
    this.stopDeadlineMs = options.stopDeadlineMs ?? STOP_DEADLINE_MS;
    this.healthy = options.healthy;
  }

  get state(): LifecycleState {
    return this.stateValue;
  }

  add(component: Component, stopRank: number): this {
    if (this.stateValue !== 'new') throw new Error(`cannot add ${component.name}: the lifecycle has already started`);
    this.entries.push({ component, stopRank, order: this.entries.length, started: false });
    return this;
  }

  /**
   * Starts every component in order. Returns false (without throwing) when start-up was
   * interrupted by `signal` or by stop(); a component's own failure is thrown after the
   * components already started have been stopped.
   */
  async start(signal?: AbortSignal): Promise<boolean> {
    if (this.stateValue !== 'new') throw new Error(`lifecycle already ${this.stateValue}`);
    this.stateValue = 'starting';
    const abort = this.startAbort;
    const onAbort = () => abort.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.notifier?.startWatchdog(this.healthy);
    try {
      for (const e of this.entries) {
        if (abort.signal.aborted) throw new StartAborted(String(abort.signal.reason ?? 'aborted'));
        this.log.debug({ component: e.component.name }, 'starting');
        // Marked before awaiting: a component interrupted half-way still gets its stop().
        e.started = true;
        await e.component.start(abort.signal);
      }
      if (abort.signal.aborted) throw new StartAborted(String(abort.signal.reason ?? 'aborted'));
    } catch (err) {
      const aborted = abort.signal.aborted;
      if (aborted) this.log.info({ reason: String(abort.signal.reason ?? 'aborted') }, 'start-up interrupted; stopping what had started');
      else this.log.error({ err: errorMessage(err) }, 'start-up failed; stopping what had started');
      await this.stop();
      if (aborted) return false;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (this.stopPromise) return false;
    this.stateValue = 'running';
    await this.notifier?.ready('running');
    this.log.info({ components: this.entries.map((e) => e.component.name) }, 'started');
    return true;
  }

  /** Stops in stopRank order within the deadline. Resolves true when every stop finished in time. */
  stop(deadlineMs = this.stopDeadlineMs): Promise<boolean> {
    this.stopPromise ??= this.runStop(deadlineMs);
    return this.stopPromise;
  }

  private async runStop(deadlineMs: number): Promise<boolean> {
    const wasStarting = this.stateValue === 'starting';
    this.stateValue = 'stopping';
    if (wasStarting) this.startAbort.abort('stop requested');
    const until = Date.now() + deadlineMs;
    // Not awaited: a slow systemd-notify child must not eat the stop deadline.
    void this.notifier?.stopping('stopping');
    this.notifier?.stopWatchdog();
    let clean = true;
    const order = [...this.entries].filter((e) => e.started).sort((a, b) => a.stopRank - b.stopRank || b.order - a.order);
    for (const e of order) {
      const left = until - Date.now();
      const name = e.component.name;
      if (left <= 0) {
        this.log.error({ component: name }, 'stop deadline passed before this component could stop');
        clean = false;
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        const timedOut = await Promise.race([
          e.component.stop().then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), left);
          }),
        ]);
        if (timedOut) {
          clean = false;
          this.log.error({ component: name, ms: deadlineMs }, 'component did not stop within the stop deadline');
        } else {
          this.log.debug({ component: name }, 'stopped');
        }
      } catch (err) {
        clean = false;
        this.log.error({ component: name, err: errorMessage(err) }, 'component failed to stop cleanly');
      } finally {
        clearTimeout(timer);
      }
    }
    this.notifier?.close();
    this.stateValue = 'stopped';
    const tookMs = deadlineMs - (until - Date.now());
    if (clean) this.log.info({ ms: tookMs }, 'stopped');
    else this.log.error({ ms: tookMs }, 'stopped, but not cleanly (see the errors above)');
    return clean;
  }
}

export interface ProcessHooks {
  /** Called with the exit code once the process should end; defaults to process.exit. */
  exit?: (code: number) => void;
  proc?: NodeJS.Process;
}

/**
 * Wires signals and crash handlers to a lifecycle. Returns the AbortSignal that a signal
 * during start-up fires, for Lifecycle.start().
 */
export function installProcessHandlers(lifecycle: Lifecycle, log: Logger, hooks: ProcessHooks = {}): { signal: AbortSignal; uninstall: () => void } {
  const proc = hooks.proc ?? process;
  const exit = hooks.exit ?? ((code: number) => flushAndExit(proc, code));
  const controller = new AbortController();
  let signals = 0;

  const onSignal = (name: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      const code = 128 + (name === 'SIGINT' ? 2 : 15);
      log.warn({ signal: name }, `second ${name}: exiting now without finishing the stop`);
      exit(code);
      return;
    }
    log.info({ signal: name }, `${name} received: stopping`);
    controller.abort(name);
    lifecycle.stop().then(
      (clean) => exit(clean ? EXIT_OK : EXIT_FAILURE),
      () => exit(EXIT_FAILURE),
    );
  };
  const onCrash = (kind: string) => (err: unknown) => {
    log.fatal({ err: errorMessage(err), stack: err instanceof Error ? err.stack : undefined, kind }, `${kind}: stopping and exiting so systemd restarts the daemon`);
    lifecycle.stop(CRASH_STOP_MS).then(
      () => exit(EXIT_FAILURE),
      () => exit(EXIT_FAILURE),
    );
  };
  const onTerm = () => onSignal('SIGTERM');
  const onInt = () => onSignal('SIGINT');
  const onException = onCrash('uncaughtException');
  const onRejection = onCrash('unhandledRejection');
  proc.on('SIGTERM', onTerm);
  proc.on('SIGINT', onInt);
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  return {
    signal: controller.signal,
    uninstall() {
      proc.off('SIGTERM', onTerm);
      proc.off('SIGINT', onInt);
      proc.off('uncaughtException', onException);
      proc.off('unhandledRejection', onRejection);
    },
  };
}

/** stdout to a pipe or journald socket is synchronous on Linux; the write callback is belt and braces. */
function flushAndExit(proc: NodeJS.Process, code: number): void {
  proc.stdout.write('', () => proc.exit(code));
  setTimeout(() => proc.exit(code), 500).unref();
}
