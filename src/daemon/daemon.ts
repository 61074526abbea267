/**
 * Assembles the daemon from a context and stage factories, in start order:
 *
 *   health ─▶ store ─▶ uplink ─▶ inference ─▶ pipeline ─▶ clock anchors ─▶ source
 *
 * and stop order (ranks in ./lifecycle.ts): source, pipeline flush (with inference and the
 * clock watcher), store, uplink (final offline status), health. Nothing here needs a
 * network: with no links configured the daemon says so once and buffers in the store.
 */
import type { Logger } from '../util/log.js';
import type { EcgSource } from '../sources/types.js';
import { Lifecycle, STOP_RANK, type Component } from './lifecycle.js';
import { HealthServer } from './health.js';
import { Pipeline, fanOut } from './pipeline.js';
import { packageVersion } from '../core/package.js';
import type { StageContext } from '../core/context.js';
import type { DecisionStage } from '../inference/stage.js';
import type { StoreStage } from '../store/stage.js';
import type { UplinkStage } from '../uplink/stage.js';
import { modelDirFor, modelRolledBack, type UpdateService } from '../update/stage.js';
import type { Notifier } from './sd-notify.js';
import type { Telemetry } from './telemetry.js';
import type { StageFactories } from './context.js';
import { RiderLoop } from './rider-loop.js';
import type { RecordSink } from '../core/record.js';
import { UnitReport } from '../report/unit-report.js';
import { LiveView } from './live-view.js';

export interface Daemon {
  readonly lifecycle: Lifecycle;
  readonly health: HealthServer;
  readonly pipeline: Pipeline;
}

export interface BuildOptions {
  ctx: StageContext;
  telemetry: Telemetry;
  stages: StageFactories;
  notifier?: Notifier;
  stopDeadlineMs?: number;
  /** How the process ends for a restart into a new configuration (src/update); process.exit by default. */
  exit?: (code: number) => void;
}

/** `motobio run` exits with this to be started again on a new configuration (EX_TEMPFAIL). */
export const EXIT_RESTART = 75;

/**
 * A decision running this long means the engine is wedged: the watchdog ping is withheld
 * so systemd restarts the daemon (the records are in the store already).
 */
export const DECISION_STUCK_MS = 60_000;

function component(name: string, start: (signal: AbortSignal) => Promise<void>, stop: () => Promise<void>): Component {
  return { name, start, stop };
}

function notWired(log: Logger, stage: string): void {
  // productionStages() wires every stage; a set of stages handed in by a test may leave some out.
  log.warn({ stage }, `${stage} is not wired into the daemon yet; running without it`);
}

export async function buildDaemon(options: BuildOptions): Promise<Daemon> {
  const { ctx, stages, telemetry } = options;
  const log = ctx.log;
  const config = ctx.config;
  let outbox: StoreStage | undefined;
  let engine: DecisionStage | undefined;
  let uplink: UplinkStage | undefined;
  let updates: UpdateService | undefined;
  let source: EcgSource | undefined;
  if (stages.source) source = await stages.source(ctx);
  else notWired(log, 'source');
  // The rider's records go through the pipeline's append, so its count is the store's.
  const rider: RiderLoop = new RiderLoop(ctx, stages, (): RecordSink | undefined => (outbox ? pipeline : undefined), () => void engine?.resetRide?.());
  // Health records and ECG strips (src/report): through the pipeline's append, like the rider's records.
  const report: UnitReport = new UnitReport(ctx, {
    source,
    store: () => outbox,
    uplink: () => uplink?.status?.(),
    model: () => engine?.model?.() ?? null,
    riding: () => rider.riding(),
    append: (r): unknown => pipeline.append(r),
    onLatency: (fn) => telemetry.onLatency(fn),
  });
  const live = new LiveView({ events: rider.events, fs: () => source?.fs });
  const pipeline = new Pipeline(ctx, {
    source,
    makeChain: stages.chain ? (fs) => stages.chain!(ctx, fs) : undefined,
    engine: () => engine,
    outbox: () => outbox,
    observer: fanOut(rider, report, live),
  });
  const lifecycle = new Lifecycle({
    log: log.child({ mod: 'lifecycle' }),
    notifier: options.notifier,
    stopDeadlineMs: options.stopDeadlineMs,
    healthy: () => pipeline.decidingForMs() < DECISION_STUCK_MS,
  });

  const health = new HealthServer({
    host: config.health.host,
    port: config.health.port,
    log: log.child({ mod: 'health' }),
    telemetry,
    clock: ctx.clock,
    state: () => lifecycle.state,
    events: rider.events,
    live,
    info: {
      version: packageVersion(),
      device: config.device.id,
      startedAtMs: lifecycle.startedAtMs,
      configFile: ctx.configFile,
      source: config.source.kind,
      links: config.uplink.links.map((l) => l.name),
    },
  });

  lifecycle.add(health, STOP_RANK.health);
  lifecycle.add(
    component(
      'store',
      async () => {
        if (!stages.outbox) return notWired(log, 'store');
        outbox = await stages.outbox(ctx);
        const d = outbox.depth();
        telemetry.setOutbox(d.records, d.bytes);
        telemetry.setStatus('store', { state: 'open', detail: { records: d.records, bytes: d.bytes } });
      },
      async () => {
        const o = outbox;
        outbox = undefined;
        await o?.close();
        telemetry.setStatus('store', { state: 'closed' });
      },
    ),
    STOP_RANK.store,
  );
  lifecycle.add(rider.riderComponent(), STOP_RANK.store);
  lifecycle.add(
    component(
      'uplink',
      async (signal) => {
        if (config.uplink.links.length === 0) {
          log.info('no uplink links are configured: records are kept in the store until one is (uplink.links)');
          telemetry.setStatus('uplink', { state: 'disabled', detail: { reason: 'no links configured' } });
          return;
        }
        if (!stages.uplink) return notWired(log, 'uplink');
        uplink = await stages.uplink(ctx, outbox);
        await uplink.start(signal);
      },
      async () => {
        await uplink?.stop();
      },
    ),
    STOP_RANK.uplink,
  );
  // The ride, the cues and their outcomes stop after the pipeline's flush: its last decisions are heard, measured and stored.
  lifecycle.add(rider.rideComponent(), STOP_RANK.pipeline);
  lifecycle.add(rider.outcomeComponent(), STOP_RANK.pipeline);
  lifecycle.add(rider.cueComponent(), STOP_RANK.pipeline);
  lifecycle.add(
    component(
      'inference',
      async () => {
        if (!stages.decisions) return notWired(log, 'inference');
        engine = await stages.decisions(ctx, {
          ...rider.decisionHooks(),
          modelDir: () => modelDirFor(ctx),
          onModelRolledBack: (error) => {
            modelRolledBack(ctx, error);
            updates?.flushPendingReports();
          },
        });
      },
      async () => {
        const e = engine;
        engine = undefined;
        await e?.close();
      },
    ),
    STOP_RANK.pipeline,
  );
  lifecycle.add(
    component(
      'update',
      async () => {
        if (!stages.updates) return;
        updates = await stages.updates(ctx, {
          report: (body) => pipeline.append({ type: 'update', stamp: ctx.clock.stamp(), body }),
          swapModel: (p) => (engine?.swapModel ? engine.swapModel(p) : Promise.resolve({ ok: false, error: 'the decision engine cannot swap models' })),
          model: () => engine?.model?.() ?? null,
          onDownlink: (handler) => uplink?.onDownlink?.(handler),
          connected: () => uplink?.connected?.() ?? false,
          healthy: () => lifecycle.state === 'running' && pipeline.decidingForMs() < DECISION_STUCK_MS,
          restart: (why) => {
            log.warn({ why }, `restarting: ${why}`);
            const exit = options.exit ?? ((code: number) => process.stdout.write('', () => process.exit(code)));
            void lifecycle.stop().finally(() => exit(EXIT_RESTART));
          },
        });
      },
      async () => {
        await updates?.stop();
      },
    ),
    STOP_RANK.pipeline,
  );
  lifecycle.add(report.component(), STOP_RANK.pipeline);
  lifecycle.add(pipeline, STOP_RANK.pipeline);
  lifecycle.add(
    component(
      'clock',
      () => {
        ctx.clock.on('anchor', (a) => {
          if (a.reason !== 'start') log.warn({ anchor: a }, a.reason === 'jump' ? 'wall clock jumped; records stay ordered by sequence and monotonic time' : 'wall clock synchronised');
          pipeline.append({ type: 'clock', stamp: ctx.clock.stamp(), body: { ...a } });
        });
        ctx.clock.watch();
        return Promise.resolve();
      },
      () => {
        ctx.clock.unwatch();
        ctx.clock.removeAllListeners('anchor');
        return Promise.resolve();
      },
    ),
    STOP_RANK.pipeline,
  );
  lifecycle.add(
    component(
      'source',
      async (signal) => {
        if (!source) return;
        telemetry.setStatus('source', { state: 'connecting', detail: { id: source.id, kind: config.source.kind } });
        await source.start(signal);
      },
      async () => {
        await source?.stop();
      },
    ),
    STOP_RANK.source,
  );
  return { lifecycle, health, pipeline };
}
