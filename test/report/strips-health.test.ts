/**
 * The strip and health collectors on their own, fed the pipeline's chunk and decision events
 * directly (the seam the daemon uses): overlapping alerts make one strip with no sample twice,
 * the hourly strip follows riding time, RR-only input keeps nothing, a stream that ends sends
 * the open strip; the health record falls back to the wall clock while no data comes and reads
 * the SoC temperature from thermal zones.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Clock } from '../../src/core/clock.js';
import type { StageContext } from '../../src/core/context.js';
import type { OutboundRecord } from '../../src/core/record.js';
import { loadConfig } from '../../src/config/load.js';
import { Telemetry } from '../../src/daemon/telemetry.js';
import { EcgStrips, CHUNK_S } from '../../src/report/ecg-strips.js';
import { HealthReport, p95, socTemperatureC } from '../../src/report/health-record.js';
import type { SignalFeatures } from '../../src/signal/types.js';
import type { FeedOutput } from '../../src/sources/feed.js';
import type { EcgSource, EcgSourceEvents, SourceStatus } from '../../src/sources/types.js';
import { silentLogger } from '../../src/util/log.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function context(): StageContext {
  const { config } = loadConfig({ resolvePaths: true, env: { MOTOBIO_DEVICE__ID: 'unit' } });
  return { config, configFile: undefined, cwd: process.cwd(), log: silentLogger, clock: new Clock(), telemetry: new Telemetry({ processMetrics: false }) };
}

class Src extends EventEmitter<EcgSourceEvents> implements EcgSource {
  readonly id = 'test';
  constructor(
    readonly fs: number | undefined,
    readonly kind: 'raw' | 'rr' = 'raw',
  ) {
    super();
  }
  start = () => Promise.resolve();
  stop = () => Promise.resolve();
  status(): SourceStatus {
    return { id: this.id, kind: this.kind, state: 'streaming', framesGood: 0, framesBad: 0, gaps: 0, leadOff: false, batteryPct: 64 };
  }
}

/** Sample i is worth i µV (mod 30000): any misplaced or repeated sample shows. */
function feeder(strips: { chunk(o: FeedOutput): void }, fs: number) {
  let next = 0;
  return {
    seconds(s: number): void {
      for (let c = 0; c < s; c++) {
        const mv = new Float64Array(fs);
        for (let i = 0; i < fs; i++) mv[i] = ((next + i) % 30000) / 1000;
        next += fs;
        strips.chunk({ kind: 'samples', out: { beats: [], rr: [], quality: [], rhythm: [], beatClasses: [] }, dataTimeS: next / fs, receivedAtMs: performance.now(), mv });
      }
    },
    get atS() {
      return next / fs;
    },
  };
}

const features = (endS: number, quality = 0.9) => ({ endS, quality }) as SignalFeatures;
const safety = { kind: 'safety' as const, name: 'hr_high' };

function spans(records: OutboundRecord[]): [number, number][] {
  return records.map((r) => [r.ecg!.startSample, r.ecg!.startSample + r.ecg!.mv.length]);
}

describe('ECG strips', () => {
  const FS = 50;
  it('overlapping alerts extend one strip: [first - 30 s, last + 30 s), each sample once, in chunks of at most 10 s', () => {
    const out: OutboundRecord[] = [];
    const strips = new EcgStrips(context(), new Src(FS), { beforeS: 30, afterS: 30, hourlyS: 10, riding: () => true, append: (r) => out.push(r) });
    const feed = feeder(strips, FS);
    feed.seconds(100);
    strips.decision(safety, context().clock.stamp(), 1, features(100));
    // The 30 s before are in the ring already: three chunks go at once.
    expect(spans(out)).toEqual([[70 * FS, 80 * FS], [80 * FS, 90 * FS], [90 * FS, 100 * FS]]);
    feed.seconds(15);
    strips.decision(safety, context().clock.stamp(), 2, features(115));
    feed.seconds(60);
    const s = spans(out);
    expect(s[0][0]).toBe(70 * FS);
    expect(s.at(-1)![1]).toBe(145 * FS);
    for (let i = 1; i < s.length; i++) expect(s[i][0]).toBe(s[i - 1][1]);
    expect(s.every(([a, b]) => b - a <= CHUNK_S * FS)).toBe(true);
    for (const r of out) {
      expect(r.type).toBe('ecg');
      const i = r.ecg!.startSample;
      expect(r.ecg!.mv[0]).toBeCloseTo(((i % 30000) / 1000), 9);
    }
    // A later alert whose window reaches back into what was sent starts where the last strip ended.
    strips.decision(safety, context().clock.stamp(), 3, features(170));
    feed.seconds(40);
    const t = spans(out);
    expect(t.find(([a]) => a >= 145 * FS)![0]).toBe(145 * FS);
    expect(t.at(-1)![1]).toBe(200 * FS);
  });

  it('an alert near the start of the stream keeps what there is; the end of the stream sends the open strip', () => {
    const out: OutboundRecord[] = [];
    const src = new Src(FS);
    const strips = new EcgStrips(context(), src, { beforeS: 30, afterS: 30, hourlyS: 0, riding: () => true, append: (r) => out.push(r) });
    strips.start();
    const feed = feeder(strips, FS);
    feed.seconds(12);
    strips.decision(safety, context().clock.stamp(), 1, features(12));
    feed.seconds(7);
    src.emit('end');
    expect(spans(out)).toEqual([[0, 10 * FS], [10 * FS, 19 * FS]]);
    strips.stop();
  });

  it('one short strip per full hour of riding, counted on riding time only', () => {
    const out: OutboundRecord[] = [];
    let riding = false;
    const strips = new EcgStrips(context(), new Src(FS), { beforeS: 30, afterS: 30, hourlyS: 10, riding: () => riding, append: (r) => out.push(r) });
    const feed = feeder(strips, FS);
    feed.seconds(1800);
    riding = true;
    feed.seconds(3599);
    expect(out).toHaveLength(0);
    feed.seconds(1);
    expect(spans(out)).toEqual([[5390 * FS, 5400 * FS]]);
    feed.seconds(3600);
    expect(spans(out).at(-1)).toEqual([8990 * FS, 9000 * FS]);
    expect(out).toHaveLength(2);
  });

  it('an RR-only strap has no samples to keep', () => {
    const out: OutboundRecord[] = [];
    const strips = new EcgStrips(context(), new Src(undefined, 'rr'), { beforeS: 30, afterS: 30, hourlyS: 10, riding: () => true, append: (r) => out.push(r) });
    strips.chunk({ kind: 'rr', out: { beats: [], rr: [], quality: [], rhythm: [], beatClasses: [] }, dataTimeS: 100, receivedAtMs: performance.now(), rr: { rrMs: [800], receivedAtMs: performance.now() } });
    strips.decision(safety, context().clock.stamp(), 1, features(100));
    expect(out).toHaveLength(0);
  });
});

describe('health record', () => {
  it('p95 by nearest rank', () => {
    expect(p95([])).toBeNull();
    expect(p95([5])).toBe(5);
    expect(p95(Array.from({ length: 100 }, (_, i) => i + 1))).toBe(95);
    expect(p95(Array.from({ length: 20 }, (_, i) => 20 - i))).toBe(19);
  });

  it('the SoC temperature from the thermal zone of the CPU, else the hottest; null without zones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'motobio-thermal-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    expect(socTemperatureC(join(dir, 'none'))).toBeNull();
    for (const [z, t, type] of [['thermal_zone0', '48512', 'cpu-thermal'], ['thermal_zone1', '61000', 'gpu-thermal'], ['cooling_device0', '1', 'fan']]) {
      mkdirSync(join(dir, z));
      writeFileSync(join(dir, z, 'temp'), `${t}\n`);
      writeFileSync(join(dir, z, 'type'), `${type}\n`);
    }
    expect(socTemperatureC(dir)).toBe(48.5);
    rmSync(join(dir, 'thermal_zone0'), { recursive: true });
    expect(socTemperatureC(dir)).toBe(61);
  });

  it('one record per period of signal, with the period figures; on the wall clock while no data comes', async () => {
    const ctx = context();
    const out: OutboundRecord[] = [];
    const src = new Src(50);
    const h = new HealthReport(ctx, { source: src, store: () => undefined, storeDir: tmpdir(), uplink: () => ({ active: 'lte', links: [{ name: 'lte', state: 'up', bytesOut: 1234, bytesIn: 99 }] }), model: () => ({ name: 'policy', version: 3 }), append: (r) => out.push(r) }, 5);
    h.start();
    cleanups.push(() => h.stop());
    const feed = feeder(h, 50);
    feed.seconds(1);
    h.features(features(1, 0.9));
    h.features(features(2, 0.2));
    h.decisionLatency(0.012);
    h.decisionLatency(0.030);
    feed.seconds(5);
    expect(out).toHaveLength(1);
    const b = out[0].body;
    expect(out[0].type).toBe('status');
    expect(b).toMatchObject({ kind: 'health', timeline: 'data', model: { name: 'policy', version: 3 }, link: 'lte', links: { lte: { state: 'up', bytesSent: 1234, bytesReceived: 99 } }, battery: 0.64, qualityGood: 0.5, windows: 2, decisionP95Ms: 30, decisions: 2, outbox: null });
    expect(b['diskFreeBytes']).toBeGreaterThan(0);
    // The body is what docs/schemas/health.v1.schema.json says (the stored record adds clock and localSeq).
    const validate = new Ajv2020({ strict: false }).compile(JSON.parse(readFileSync('docs/schemas/health.v1.schema.json', 'utf8')) as object);
    expect(validate(b), JSON.stringify(validate.errors)).toBe(true);
    expect(b['cpu']).toBeGreaterThanOrEqual(0);
    feed.seconds(29);
    expect(out).toHaveLength(6);
    expect(out[1].body).toMatchObject({ windows: 0, qualityGood: null, decisionP95Ms: null });
    // No data for a period of wall clock (5 s): the record comes anyway, on the wall clock.
    await new Promise((r) => setTimeout(r, 6500));
    expect(out.length).toBeGreaterThanOrEqual(7);
    expect(out[6].body['timeline']).toBe('wall');
    // A stream that ended has no timeline left: no more records.
    src.emit('end');
    const n = out.length;
    await new Promise((r) => setTimeout(r, 6500));
    expect(out).toHaveLength(n);
  }, 30_000);
});
