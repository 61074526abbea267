/** Real v1 batches made by the unit's own encoder (uplink/codec.ts), for the fleet tests. */
import { encodeEcgChunk } from '../../../src/store/ecg-codec.js';
import type { EvictionNotice, Priority, StoredRecord } from '../../../src/store/types.js';
import { encodeBatch } from '../../../src/uplink/codec.js';

export interface Rec {
  seq: number;
  type?: string;
  prio?: Priority;
  data?: unknown;
  ecg?: boolean;
  wall?: number;
  boot?: string;
}

const PRIO: Record<string, Priority> = { features: 'features', decision: 'decision', safety: 'safety', status: 'status', update: 'status', cue: 'decision', ecg: 'raw' };

export function stored(device: string, r: Rec): StoredRecord {
  const type = r.type ?? 'features';
  const body = r.ecg
    ? encodeEcgChunk({ startSample: r.seq * 360, fs: 360, lsbUv: 5, mv: Float64Array.from({ length: 360 }, (_, i) => Math.sin(i / 20)) })
    : Buffer.from(JSON.stringify(r.data ?? { hrBpm: 60 + (r.seq % 40), rmssdMs: 30, quality: 0.9, windowS: 60 }));
  return {
    id: r.seq,
    deviceId: device,
    seq: r.seq,
    bootId: r.boot ?? 'boot-1',
    monoMs: r.seq * 1000,
    wallMs: r.wall ?? 1_764_000_000_000 + r.seq * 1000,
    clockSynced: true,
    priority: r.prio ?? PRIO[type] ?? 'status',
    type,
    encoding: r.ecg ? 'ecg1' : 'json',
    body,
    size: body.length,
  };
}

export function batch(device: string, recs: readonly Rec[], evicted: readonly Omit<EvictionNotice, 'id'>[] = []): Buffer {
  return encodeBatch(device, `b-${recs[0]?.seq ?? 0}`, recs.map((r) => stored(device, r)), evicted.map((e, i) => ({ id: i + 1, ...e })));
}

export const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);
export const topicOf = (device: string, prio: Priority = 'features') => `motobio/v1/${device}/data/${prio}`;
