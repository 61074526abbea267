/**
 * The rider profile (baseline learned over the first minutes of each ride and across rides,
 * kept in the store's SQLite file) and per-rider cue choice (Thompson sampling with an
 * exploration floor), on small seeded cases. Figures on real recordings are in bench/rider.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { AssumedRideSource } from '../../src/context/assumed.js';
import { GpsdRideSource } from '../../src/context/gpsd.js';
import type { CueOutcome } from '../../src/cues/outcome.js';
import { BaselineLearner, quantile, weightedMedian } from '../../src/rider/baseline.js';
import { CueChooser } from '../../src/rider/cue-choice.js';
import { createRiderAdaptation } from '../../src/rider/adaptation.js';
import { normal, seeded } from '../../src/rider/random.js';
import { RideInput, rideStatus } from '../../src/rider/ride-input.js';
import { parseRiderProfileSettings } from '../../src/rider/settings.js';
import { RiderStore } from '../../src/rider/store.js';
import type { SignalFeatures } from '../../src/signal/types.js';
import { Outbox } from '../../src/store/outbox.js';
import { backupStore } from '../../src/store/inspect.js';
import { freePort } from '../helpers/brokers.js';
import { waitFor } from '../sources/wait.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'motobio-rider-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const F: SignalFeatures = { endS: 0, hrBpm: 70, hrSlopeBpmPerMin: 0, rmssdMs: 40, sdnnMs: 50, pnn50: 0.1, lfHf: 1, quality: 0.9, ectopicShare: 0, leadOff: false, secondsSinceBeat: 0.5 };

/** One ride's warm-up: a decision every 5 s for `seconds`, HR around `hr` with seeded noise and a few artefacts. */
function ride(learner: BaselineLearner, seed: number, hr: number, rmssd: number, seconds = 400): void {
  const rnd = seeded(seed);
  learner.startRide();
  for (let t = 5; t <= seconds; t += 5) {
    const artefact = rnd() < 0.05;
    learner.observe({ ...F, endS: 1000 * seed + t, hrBpm: artefact ? 190 : hr + 2 * normal(rnd), rmssdMs: rmssd + 3 * normal(rnd) }, true);
  }
}

function outcome(name: string, hrDelta: number | null, complete = true): CueOutcome {
  const w = { fromS: 0, toS: 60, hrBpm: 80, rmssdMs: 30, quality: 0.9, intervals: 70 };
  return {
    v: 1, decisionSeq: 1, kind: 'coaching', name, delivery: 'played', language: 'es', prompt: 'voice', cueStartS: 60, cueStartMonoMs: null,
    windows: { baselineS: 60, startS: 60, endS: 180 }, baseline: w, response: { ...w, hrBpm: hrDelta === null ? null : 80 + hrDelta },
    delta: { hrBpm: hrDelta, rmssdMs: 0 }, complete, endedEarly: complete ? null : 'new_cue', endedAtS: 240,
  };
}

describe('robust statistics', () => {
  it('quantile and weighted median', () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4], 0.25)).toBeCloseTo(1.75, 9);
    expect(quantile([], 0.5)).toBeNull();
    expect(weightedMedian([{ value: 60, weight: 1 }, { value: 100, weight: 0.4 }, { value: 62, weight: 0.49 }])).toBe(60);
    expect(weightedMedian([{ value: 60, weight: 0.3 }, { value: 100, weight: 0.5 }, { value: 62, weight: 0.3 }])).toBe(62);
    expect(weightedMedian([{ value: 60, weight: 1 }, { value: 100, weight: 3 }])).toBe(100);
  });
});

describe('rider baseline', () => {
  it('learns over the warm-up of each ride, shrugs off artefacts and one odd ride, follows a lasting change', () => {
    const db = new Database(join(dir, 'p.db'));
    const store = new RiderStore(db);
    const learner = new BaselineLearner(store, 'ana', { warmupS: 300, minSamples: 12, hrQuantile: 0.25, forgetting: 0.7 }, 58);
    expect(learner.baseline()).toMatchObject({ restingHrBpm: 58, source: 'configured', rides: 0 });
    ride(learner, 1, 66, 42);
    const b1 = learner.baseline();
    expect(b1.source).toBe('learned');
    // The 25th percentile of N(66, 2) is ~64.7; the 190-bpm artefacts do not reach it.
    expect(b1.restingHrBpm!).toBeGreaterThan(63.5);
    expect(b1.restingHrBpm!).toBeLessThan(66);
    expect(b1.rmssdMs!).toBeGreaterThan(39);
    expect(b1.rmssdMs!).toBeLessThan(45);
    ride(learner, 2, 66, 42);
    ride(learner, 3, 95, 20); // one odd ride
    expect(learner.baseline().restingHrBpm!).toBeLessThan(67);
    for (let k = 4; k < 8; k++) ride(learner, k, 75, 30); // a lasting change
    expect(learner.baseline().restingHrBpm!).toBeGreaterThan(71);
    expect(learner.baseline().rides).toBe(7);
    db.close();
  });

  it('a ride too short or too noisy to learn from is not counted', () => {
    const db = new Database(join(dir, 'p.db'));
    const learner = new BaselineLearner(new RiderStore(db), 'ana');
    learner.startRide();
    for (let t = 5; t <= 400; t += 5) learner.observe({ ...F, endS: t, quality: 0.2 }, true);
    for (let t = 5; t <= 30; t += 5) learner.observe({ ...F, endS: t }, false); // not riding
    expect(learner.learning()).toEqual({ samples: 0, committed: true });
    expect(learner.baseline()).toMatchObject({ restingHrBpm: null, source: 'none' });
    db.close();
  });

  it('is kept per rider in the store file: survives a restart and `db backup`', async () => {
    const path = join(dir, 'store.db');
    const outbox = Outbox.open(path, { deviceId: 'unit-1' });
    // The rider tables share the store's file through a handle of their own.
    const db = new Database(path);
    const a = createRiderAdaptation({ db, settings: parseRiderProfileSettings({ id: 'ana' }), random: seeded(1) });
    const b = createRiderAdaptation({ db, settings: parseRiderProfileSettings({ id: 'bea' }), random: seeded(2) });
    ride(a.learner, 1, 60, 50);
    ride(b.learner, 2, 80, 20);
    a.onOutcome(outcome('breathing_cue', -4));
    db.close();
    outbox.close();

    const reopened = new Database(path);
    const again = createRiderAdaptation({ db: reopened, settings: parseRiderProfileSettings({ id: 'ana' }) });
    expect(again.status().baseline.restingHrBpm!).toBeLessThan(62);
    expect(again.status().cues).toEqual([expect.objectContaining({ cue: 'breathing_cue', total: 1 })]);
    expect(new RiderStore(reopened).riders()).toEqual(['ana', 'bea']);
    reopened.close();

    const copy = join(dir, 'backup.db');
    await backupStore(path, copy);
    const restored = new Database(copy, { readonly: true });
    const bea = new RiderStore(restored).rides('bea');
    expect(bea).toHaveLength(1);
    expect(bea[0].restingHrBpm).toBeGreaterThan(77);
    restored.close();
  });
});

describe('per-rider cue choice (Thompson sampling)', () => {
  it('comes to prefer the kind that lowers this rider’s heart rate', () => {
    const rnd = seeded(7);
    const chooser = new CueChooser(null, 'ana', seeded(8));
    const picks: string[] = [];
    for (let i = 0; i < 60; i++) {
      const c = chooser.choose(['breathing_cue', 'relax_posture_cue'], 'breathing_cue');
      picks.push(c.chosen);
      // relax_posture_cue lowers HR by 5 bpm, breathing does nothing; both with 2 bpm noise.
      chooser.update(c.chosen, (c.chosen === 'relax_posture_cue' ? 5 : 0) + 2 * normal(rnd));
    }
    const late = picks.slice(30);
    expect(late.filter((p) => p === 'relax_posture_cue').length / late.length).toBeGreaterThan(0.8);
    expect(chooser.arms().find((a) => a.cue === 'relax_posture_cue')!.mean).toBeGreaterThan(3);
  });

  it('never silences a kind: the exploration floor keeps the worse one picked now and then', () => {
    const chooser = new CueChooser(null, 'ana', seeded(3), { explorationFloor: 0.2 });
    for (let i = 0; i < 50; i++) chooser.update('breathing_cue', 10);
    for (let i = 0; i < 50; i++) chooser.update('relax_posture_cue', -10);
    let worse = 0;
    for (let i = 0; i < 2000; i++) if (chooser.choose(['breathing_cue', 'relax_posture_cue'], 'breathing_cue').chosen === 'relax_posture_cue') worse++;
    // floor / kinds = 10 % of the picks, give or take sampling.
    expect(worse / 2000).toBeGreaterThan(0.08);
    expect(worse / 2000).toBeLessThan(0.12);
  });

  it('only ever picks among the allowed kinds, and a lone kind is not a choice', () => {
    const chooser = new CueChooser(null, 'ana', seeded(4));
    chooser.update('suggest_break', 50);
    for (let i = 0; i < 100; i++) expect(['breathing_cue', 'relax_posture_cue']).toContain(chooser.choose(['breathing_cue', 'relax_posture_cue'], 'breathing_cue').chosen);
    expect(chooser.choose(['breathing_cue'], 'breathing_cue')).toMatchObject({ chosen: 'breathing_cue', by: 'only' });
  });

  it('counts only complete coaching outcomes as rewards', () => {
    const chooser = new CueChooser(null, 'ana', seeded(5));
    expect(chooser.reward(outcome('breathing_cue', -3))).toBe(3);
    expect(chooser.reward(outcome('breathing_cue', -3, false))).toBeNull();
    expect(chooser.reward(outcome('breathing_cue', null))).toBeNull();
    expect(chooser.reward({ ...outcome('hr_high', -3), kind: 'safety' })).toBeNull();
    expect(chooser.arms()).toEqual([expect.objectContaining({ cue: 'breathing_cue', total: 1 })]);
  });

  it('refuses a zero exploration floor (a kind could be silenced forever)', () => {
    expect(() => new CueChooser(null, 'ana', seeded(1), { explorationFloor: 0 })).toThrow(/silence a kind forever/);
  });
});

describe('decision input', () => {
  it('without GPS: the assumption, stated; minutes on the data timeline; the rider baseline', async () => {
    const db = new Database(join(dir, 'p.db'));
    const a = createRiderAdaptation({ db, settings: parseRiderProfileSettings({ id: 'ana', resting_hr_bpm: 61 }) });
    const input = new RideInput({ context: new AssumedRideSource(), learner: a.learner });
    input.forDecision({ ...F, endS: 100 });
    const d = input.forDecision({ ...F, endS: 700 });
    expect(d.ride).toEqual({ restingHrBpm: 61, rmssdBaselineMs: null, minutesRiding: 10, riding: true, sensorConnected: true });
    expect(d.record.context).toMatchObject({ source: 'assumed', assumed: true, riding: true, stale: false, position: null });
    expect(d.record.rider).toMatchObject({ id: 'ana', restingHrBpm: 61, baselineSource: 'configured' });
    expect(rideStatus(new AssumedRideSource(), a)).toMatchObject({ context: { source: 'assumed', assumed: true, riding: true }, rider: { riderId: 'ana', baseline: { restingHrBpm: 61 } } });
    input.close();
    db.close();
  });

  it('with gpsd: riding minutes from the ride tracker, a real stop is not riding, a new ride restarts the warm-up', async () => {
    const port = await freePort();
    const socks: Socket[] = [];
    let feed: (lines: string[]) => void = () => undefined;
    const server = createServer((s) => {
      socks.push(s);
      feed = (lines) => s.write(lines.map((l) => `${l}\n`).join(''));
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    const source = new GpsdRideSource({ port, tracker: { startDwellS: 2, haltDwellS: 2, realStopS: 30 } });
    let newRides = 0;
    const db = new Database(join(dir, 'p.db'));
    const a = createRiderAdaptation({ db, settings: parseRiderProfileSettings({ id: 'ana' }) });
    const input = new RideInput({ context: source, learner: a.learner, onNewRide: () => newRides++ });
    const tpv = (s: number, speed: number) => `{"class":"TPV","mode":3,"time":"${new Date(Date.UTC(2026, 0, 1, 8, 0, s)).toISOString()}","lat":40.41,"lon":-3.7,"speed":${speed}}`;
    try {
      // Before any fix: the assumption, marked.
      expect(input.forDecision({ ...F, endS: 10 }).record.context).toMatchObject({ source: 'gps', phase: 'unknown', assumed: true, riding: true, stale: true });
      await source.start();
      await waitFor(() => socks.length > 0, 10_000, 'connection');
      feed(Array.from({ length: 121 }, (_, s) => tpv(s, 12)));
      await waitFor(() => source.status().fixes >= 121, 10_000, 'fixes');
      const d = input.forDecision({ ...F, endS: 20 });
      expect(d.ride.riding).toBe(true);
      expect(d.ride.minutesRiding).toBeCloseTo(2, 6);
      expect(d.record.context).toMatchObject({ source: 'gps', phase: 'riding', assumed: false, stale: false, position: { lat: 40.41, lon: -3.7 } });
      expect(newRides).toBe(1);
      // A 40-s stop is a real stop here (30 s): not riding, minutes start over.
      feed(Array.from({ length: 40 }, (_, s) => tpv(121 + s, 0)));
      await waitFor(() => source.status().fixes >= 161, 10_000, 'stop fixes');
      expect(input.forDecision({ ...F, endS: 30 }).ride).toMatchObject({ riding: false, minutesRiding: 0 });
      feed(Array.from({ length: 10 }, (_, s) => tpv(161 + s, 12)));
      await waitFor(() => source.status().fixes >= 171, 10_000, 'ride again');
      expect(newRides).toBe(2);
      expect(input.forDecision({ ...F, endS: 40 }).ride.riding).toBe(true);
    } finally {
      input.close();
      await source.stop();
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      db.close();
    }
  });
});
