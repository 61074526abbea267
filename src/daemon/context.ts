/**
 * The daemon's context: one object handed to every stage factory, so nothing reaches for a
 * global (settings, logger, clock, telemetry) and tests build a daemon from their own parts.
 *
 * The stage interfaces below are the narrow seams the daemon needs from the other stages.
 * They are written against what those stages publish (src/sources/types.ts,
 * src/signal/types.ts); where a stage's own module does not exist yet, its factory is left
 * out of StageFactories and the daemon runs without it, saying so once (see ./stages.ts).
 */
import type { Logger } from '../util/log.js';
import type { EcgSource } from '../sources/types.js';
import type { Beat, QualityWindow, RrInterval, SignalFeatures } from '../signal/types.js';
import type { MotobioConfig } from '../config/schema.js';
import type { Clock, Stamp } from '../core/clock.js';
import type { TelemetrySink } from './telemetry.js';

export interface DaemonContext {
  readonly config: MotobioConfig;
  readonly configFile: string | undefined;
  /** Where relative paths in the configuration resolve. */
  readonly cwd: string;
  readonly log: Logger;
  readonly clock: Clock;
  readonly telemetry: TelemetrySink;
}

/** What `EcgChain.push` / `pushRr` return (src/signal). */
export interface ChainOutput {
  readonly beats: readonly Beat[];
  readonly rr: readonly RrInterval[];
  readonly quality: readonly QualityWindow[];
}

/** The signal chain as the daemon drives it: `new EcgChain({ fs })` in src/signal. */
export interface SignalChain {
  push(mv: Float64Array): ChainOutput;
  pushRr(rrMs: readonly number[], timeS: number, contact?: boolean): ChainOutput;
  features(): SignalFeatures;
}

/** One output of the decision engine (coaching policy plus safety rules, src/inference). */
export interface Decision {
  readonly kind: 'coaching' | 'safety';
  /** Safety rule or coaching action name, e.g. "no_beat" or "ease_off". */
  readonly name: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface DecisionEngine {
  decide(features: SignalFeatures, stamp: Stamp): Promise<readonly Decision[]>;
  close(): Promise<void>;
  /** Checks a model (manifest path) off to the side and switches to it between two decisions; the running one stays if it is refused. */
  swapModel?(manifestPath: string): Promise<{ ok: true } | { ok: false; error: string }>;
  /** The model in service (name, version, sha256), null on the safety rules alone. */
  model?(): unknown;
}

export type RecordType = 'features' | 'decision' | 'safety' | 'quality' | 'clock' | 'status' | 'update';

/** A record handed to the store. The store adds the persistent per-device sequence. */
export interface OutboundRecord {
  readonly type: RecordType;
  readonly stamp: Stamp;
  readonly body: Readonly<Record<string, unknown>>;
}

/** The SQLite outbox (src/store): durable on append, drained by the uplink. */
export interface Outbox {
  append(record: OutboundRecord): void;
  /** Makes everything appended so far durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
  depth(): { records: number; bytes: number };
}

/** The MQTT uplink (src/uplink). stop() publishes the retained offline status where connected. */
export interface Uplink {
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  /** Messages from the server on `…/cmd/#` (signed updates). */
  onDownlink?(handler: (topic: string, payload: Buffer) => void): void;
  /** A link is up. */
  connected?(): boolean;
}

/** What the signed-update manager (src/update) gets from the daemon. */
export interface UpdateDeps {
  /** Puts an `update` record (a report) in the outbox. */
  report(body: Readonly<Record<string, unknown>>): void;
  engine(): DecisionEngine | undefined;
  uplink(): Uplink | undefined;
  /** Stops the daemon and exits with EXIT_RESTART so it starts again on a new configuration. */
  restart(why: string): void;
  /** Running (READY sent) and decisions not stuck. */
  healthy(): boolean;
}

export interface UpdateService {
  stop(): Promise<void>;
}

/**
 * How the daemon gets each stage. A missing factory means "not wired yet": the daemon runs
 * without that stage and logs it once.
 */
export interface StageFactories {
  source?(ctx: DaemonContext): EcgSource | Promise<EcgSource>;
  chain?(ctx: DaemonContext, fs: number | undefined): SignalChain;
  decisions?(ctx: DaemonContext): Promise<DecisionEngine>;
  outbox?(ctx: DaemonContext): Promise<Outbox>;
  uplink?(ctx: DaemonContext, outbox: Outbox | undefined): Promise<Uplink>;
  updates?(ctx: DaemonContext, deps: UpdateDeps): Promise<UpdateService>;
}
