/**
 * The fault suite's own report: every fault case records what it did and its counts here, and
 * the suite's global teardown (test/faults/global-report.ts) writes docs/reliability.md from the
 * results, so the table is produced by the last run, never typed by hand.
 *
 * Results are JSON files, one per case, under test/faults/.results/ (git-ignored). The global
 * setup empties that folder, so the table is always one run's, never merged with older rows.
 *
 * Counting is independent of the unit: `expected` comes from the signal time and the
 * configuration (features every decision period, one decision per period, ...), `received` and
 * `duplicates` from a receiver that is not the unit (an MQTT subscriber decoding the batches),
 * and lost = expected - received - evicted (evictions the unit announced), checked here.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export interface FaultResult {
  /** Group the row belongs to: 'network', 'disk', 'database', 'model', 'clock', 'soak', 'fuzz', 'downlink', 'tls', 'at-rest'. */
  group: string;
  /** The fault, as a reader would name it: "4G link down 10 s, WiFi takes over". */
  fault: string;
  /** What the daemon did, measured: "failed over in 1.2 s; 0 records lost; alarm store_full raised". */
  behaviour: string;
  /** Records the run must produce, from the signal time and the configuration; null where the case has no record flow. */
  expected: number | null;
  /** How `expected` was derived: "299 periods of 2 s in 600 s of signal: 299 features + 299 decisions + 1 clock anchor". */
  expectedFrom?: string;
  /** Distinct records an independent receiver (an MQTT subscriber, not the unit's store) got. */
  received: number | null;
  /** Records the unit announced as evicted (eviction notices the receiver got); they are not lost. */
  evicted?: number;
  /** expected - received - evicted; must be 0. */
  lost: number | null;
  /** Duplicates the receiver dropped by (device, seq). */
  duplicates: number | null;
  /** Any further figures worth a column-free mention: { failover_ms: 1234 }. */
  figures?: Record<string, number | string>;
}

interface StoredResult extends FaultResult {
  id: string;
  at: string;
  /** The test file that recorded it (folder/file). */
  file?: string;
}

const here = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = join(here, '.results');
export const REPORT_PATH = join(here, '..', '..', 'docs', 'reliability.md');

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);

/** Empties the results folder: a run's table holds that run's rows only. */
export function clearFaultResults(dir = RESULTS_DIR): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Records one fault case's outcome. Call it after the case's assertions passed. The counts must
 * add up (lost = expected - received - evicted) and are all given or all absent.
 */
export function recordFaultResult(r: FaultResult): void {
  if (r.expected === null ? r.lost !== null : r.received === null || r.lost === null || r.duplicates === null) {
    throw new Error(`fault case "${r.fault}": with an expected count give received, lost and duplicates too; without one, no lost (got ${[r.expected, r.received, r.lost, r.duplicates].join(', ')})`);
  }
  if (r.expected !== null && r.received !== null) {
    expect(r.expectedFrom, `fault case "${r.fault}": say how the expected count was derived`).toBeTruthy();
    expect(r.lost, `fault case "${r.fault}": lost = expected ${r.expected} - received ${r.received} - evicted ${r.evicted ?? 0}`).toBe(r.expected - r.received - (r.evicted ?? 0));
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const id = `${slug(r.group)}--${slug(r.fault)}`;
  const testPath = expect.getState().testPath;
  const stored: StoredResult = { ...r, id, at: new Date().toISOString(), ...(testPath ? { file: basename(dirname(testPath)) + '/' + basename(testPath) } : {}) };
  writeFileSync(join(RESULTS_DIR, `${id}.json`), JSON.stringify(stored, null, 2) + '\n');
}

export function readFaultResults(dir = RESULTS_DIR): StoredResult[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as StoredResult).sort((a, b) => a.group.localeCompare(b.group) || a.fault.localeCompare(b.fault));
}

const cell = (v: number | string | null | undefined) => (v === null || v === undefined ? '–' : String(v).replace(/\|/g, '\\|').replace(/\n/g, ' '));

export function renderReport(results: StoredResult[]): string {
  const files = [...new Set(results.map((r) => r.file).filter((f): f is string => !!f))].sort();
  const times = results.map((r) => r.at).sort();
  const lines = [
    '# Reliability: faults and attacks',
    '',
    '<!-- Written by the fault suite (test/faults/global-report.ts) from one run: do not edit by hand. -->',
    '',
    'Each row is one case of the fault suite: the real daemon or the real store and uplink, real brokers,',
    'real network namespaces, filesystems and clocks. A case records its row only after its assertions',
    'passed. "Expected" is what the run must produce, derived from the signal time and the configuration',
    '("expected from" says how), not read from the unit; "received" and "duplicates" are counted by an',
    'independent receiver (an MQTT subscriber decoding the batches, `src/uplink/receiver.ts`), not by the',
    "unit's store; lost = expected - received - evicted (records the unit announced it evicted) and must",
    'be 0. Rerun with `npm run test:faults` (as root: namespaces, tc, nftables and mounts need it); the',
    'table is rewritten from that run alone.',
    '',
    `Run: ${times[0]?.slice(0, 19).replace('T', ' ') ?? '-'} to ${times[times.length - 1]?.slice(0, 19).replace('T', ' ') ?? '-'} UTC, ${results.length} cases from ${files.length} files (${files.join(', ')}).`,
    '',
    '| group | fault | what the unit did | expected | expected from | received | evicted | lost | duplicates | figures |',
    '| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of results) {
    const figs = r.figures ? Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join(', ') : '';
    lines.push(`| ${cell(r.group)} | ${cell(r.fault)} | ${cell(r.behaviour)} | ${cell(r.expected)} | ${cell(r.expectedFrom)} | ${cell(r.received)} | ${cell(r.expected === null ? null : (r.evicted ?? 0))} | ${cell(r.lost)} | ${cell(r.duplicates)} | ${cell(figs)} |`);
  }
  const lost = results.reduce((s, r) => s + (r.lost ?? 0), 0);
  const counted = results.filter((r) => r.expected !== null);
  lines.push('', `${results.length} cases, ${counted.length} with a record flow; records lost over all of them: ${lost}.`, '');
  return lines.join('\n');
}

export function writeReport(path = REPORT_PATH, dir = RESULTS_DIR): number {
  const results = readFaultResults(dir);
  if (results.length === 0) return 0;
  writeFileSync(path, renderReport(results));
  return results.length;
}
