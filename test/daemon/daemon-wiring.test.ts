/**
 * buildDaemon with stages handed in through the factory seam (a scripted source, a tiny
 * threshold chain, a rule engine and an in-memory outbox, all written here): the wiring
 * from source to outbox, telemetry into /status and /metrics, and the flush on stop.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { buildDaemon } from '../../src/daemon/daemon.js';
import { Clock } from '../../src/core/clock.js';
import { loadConfig } from '../../src/config/load.js';
import { Telemetry } from '../../src/daemon/telemetry.js';
import type { StageFactories } from '../../src/daemon/context.js';
import type { SignalChain } from '../../src/signal/stage.js';
import type { StageContext } from '../../src/core/context.js';
import type { OutboundRecord } from '../../src/core/record.js';
import type { ChainOutput } from '../../src/signal/chain.js';
import type { Decision, DecisionStage } from '../../src/inference/stage.js';
import type { StoreStage } from '../../src/store/stage.js';
import type { EcgSource, EcgSourceEvents, SourceStatus } from '../../src/sources/types.js';
import type { SignalFeatures } from '../../src/signal/types.js';
import { formatStatus } from '../../src/cli/commands/status.js';
import type { DaemonStatus } from '../../src/daemon/health.js';
import { silentLogger } from '../../src/util/log.js';
import { getText, waitFor } from './helpers.js';

const FS = 100;

/** Emits one "beat" (a 1 mV sample) per second of signal, 10 chunks of 0.1 s per call to pump(). */
class ScriptedSource extends EventEmitter<EcgSourceEvents> implements EcgSource {
  readonly id = 'scripted';
  readonly kind = 'raw' as const;
  readonly fs = FS;
  private next = 0;
  start(): Promise<void> {
    this.emit('status', this.status());
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  status(): SourceStatus {
    return { id: this.id, kind: 'raw', state: 'streaming', nominalFs: FS, measuredFs: FS, framesGood: this.next, framesBad: 0, gaps: 0, leadOff: false };
  }
  pump(seconds: number): void {
    for (let c = 0; c < seconds * 10; c++) {
      const mv = new Float64Array(FS / 10);
      for (let i = 0; i < mv.length; i++) if ((this.next + i) % FS === 0) mv[i] = 1;
      this.emit('samples', { start: this.next, mv, receivedAtMs: performance.now() });
      this.next += mv.length;
    }
  }
}

class ThresholdChain implements SignalChain {
  private n = 0;
  private beats: number[] = [];
  push(mv: Float64Array): ChainOutput {
    const beats = [];
    for (let i = 0; i < mv.length; i++) {
      if (mv[i] > 0.5) {
        beats.push({ sample: this.n + i, timeS: (this.n + i) / FS, amplitude: mv[i] });
        this.beats.push((this.n + i) / FS);
      }
    }
    this.n += mv.length;
    return { beats, rr: [], quality: [{ endS: this.n / FS, sqi: 0.9, leadOff: false, flat: false, clipped: false, noisy: false }], rhythm: [], beatClasses: [] };
  }
  pushRr(): ChainOutput {
    return { beats: [], rr: [], quality: [], rhythm: [], beatClasses: [] };
  }
  features(): SignalFeatures {
    return { endS: this.n / FS, hrBpm: 60, hrSlopeBpmPerMin: 0, rmssdMs: null, sdnnMs: null, pnn50: null, lfHf: null, quality: 0.9, ectopicShare: 0, leadOff: false, secondsSinceBeat: 0 };
  }
}

function setup(engineDelayMs = 0) {
  const records: OutboundRecord[] = [];
  let flushedAt = -1;
  const source = new ScriptedSource();
  const engine: DecisionStage = {
    async decide(f): Promise<Decision[]> {
      if (engineDelayMs) await new Promise((r) => setTimeout(r, engineDelayMs));
      return [
        { kind: 'coaching', name: 'steady', detail: { hr: f.hrBpm } },
        { kind: 'safety', name: 'test_rule' },
      ];
    },
    close: () => Promise.resolve(),
  };
  const stages: StageFactories = {
    source: () => source,
    chain: () => new ThresholdChain(),
    decisions: () => Promise.resolve(engine),
    outbox: () =>
      Promise.resolve<StoreStage>({
        append: (r) => void records.push(r),
        flush: () => {
          flushedAt = records.length;
          return Promise.resolve();
        },
        close: () => Promise.resolve(),
        depth: () => ({ records: records.length, bytes: records.length * 64 }),
      }),
  };
  const { config } = loadConfig({ resolvePaths: true, env: { MOTOBIO_HEALTH__PORT: '0', MOTOBIO_SIGNAL__DECISION_PERIOD_S: '5', MOTOBIO_DEVICE__ID: 'wiring' } });
  const telemetry = new Telemetry({ processMetrics: false });
  const ctx: StageContext = { config, configFile: undefined, cwd: process.cwd(), log: silentLogger, clock: new Clock(), telemetry };
  return { records, source, stages, ctx, telemetry, flushed: () => flushedAt };
}

describe('daemon wiring', () => {
  it('source -> chain -> decisions -> outbox, with telemetry in /status and /metrics', async () => {
    const s = setup();
    const d = await buildDaemon({ ctx: s.ctx, telemetry: s.telemetry, stages: s.stages });
    expect(await d.lifecycle.start()).toBe(true);
    const base = `http://127.0.0.1:${d.health.port}`;

    s.source.pump(21);
    // Decisions every 5 s of signal: at 5, 10, 15 and 20 s (the first period starts with the data).
    await waitFor('four decision periods', () => s.records.filter((r) => r.type === 'features').length === 4);
    await waitFor('the last decision', () => s.records.filter((r) => r.type === 'safety').length === 4);
    const types = s.records.map((r) => r.type);
    expect(types.filter((t) => t === 'decision')).toHaveLength(4);
    expect(types).toContain('clock');
    // Every record carries seq, monotonic time and boot id, and they are in order.
    const seqs = s.records.map((r) => r.stamp.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(s.records.map((r) => r.stamp.bootId)).size).toBe(1);

    const status = JSON.parse((await getText(`${base}/status`)).body) as DaemonStatus;
    expect(status.state).toBe('running');
    expect(status.counters).toEqual({ beats: 21, decisions: 4, safetyTriggers: 4, errors: 0 });
    expect(status.quality).toEqual({ sqi: 0.9, leadOff: false });
    expect(status.outbox.records).toBe(s.records.length);
    expect(status.components['source']?.state).toBe('streaming');
    const text = formatStatus(status);
    expect(text).toContain('on wiring: running');
    expect(text).toContain('signal:    quality 0.90, 21 beats');
    expect(text).toContain('decisions: 4 coaching, 4 safety triggers');
    expect(text).toContain('source:    scripted, streaming, 100.0 Hz');

    const metrics = (await getText(`${base}/metrics`)).body;
    expect(metrics).toMatch(/^motobio_beats_total 21$/m);
    expect(metrics).toMatch(/^motobio_safety_triggers_total\{rule="test_rule"\} 4$/m);
    expect(metrics).toMatch(/^motobio_decisions_total\{kind="steady"\} 4$/m);
    expect(metrics).toMatch(/^motobio_pipeline_latency_seconds_count\{stage="decision"\} 4$/m);
    expect(await d.lifecycle.stop()).toBe(true);
  });

  it('stopping waits for the decision in flight and flushes the outbox after it', async () => {
    const s = setup(300);
    const d = await buildDaemon({ ctx: s.ctx, telemetry: s.telemetry, stages: s.stages });
    await d.lifecycle.start();
    s.source.pump(6);
    await waitFor('a decision in flight', () => s.records.some((r) => r.type === 'features'));
    expect(await d.lifecycle.stop()).toBe(true);
    // The decision finished before the flush, so the flush covered it.
    expect(s.records.some((r) => r.type === 'safety')).toBe(true);
    expect(s.flushed()).toBe(s.records.length);
  });

  it('reports how long a decision has been running, for the watchdog', async () => {
    const s = setup(400);
    const d = await buildDaemon({ ctx: s.ctx, telemetry: s.telemetry, stages: s.stages });
    await d.lifecycle.start();
    expect(d.pipeline.decidingForMs()).toBe(0);
    s.source.pump(6);
    await waitFor('a decision running', () => d.pipeline.decidingForMs() > 0);
    await waitFor('the decision done', () => s.records.some((r) => r.type === 'safety'));
    await waitFor('nothing running', () => d.pipeline.decidingForMs() === 0);
    await d.lifecycle.stop();
  });

  it('a chunk that throws in the chain is dropped, counted and logged; the daemon carries on', async () => {
    const s = setup();
    let calls = 0;
    s.stages.chain = () => {
      const c = new ThresholdChain();
      const push = c.push.bind(c);
      c.push = (mv) => {
        if (++calls === 3) throw new Error('bad chunk');
        return push(mv);
      };
      return c;
    };
    const d = await buildDaemon({ ctx: s.ctx, telemetry: s.telemetry, stages: s.stages });
    await d.lifecycle.start();
    s.source.pump(6);
    const snap = s.telemetry.snapshot();
    expect(snap.counters.errors).toBe(1);
    expect(snap.lastErrors[0]).toMatchObject({ module: 'pipeline', code: 'INTERNAL', message: 'bad chunk' });
    expect(snap.counters.beats).toBeGreaterThan(4);
    await d.lifecycle.stop();
  });
});
