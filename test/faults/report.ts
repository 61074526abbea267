/**
 * The fault suite's own report: every fault case records what it did and its counts here, and
 * the suite's global teardown (test/faults/global-report.ts) writes docs/reliability.md from the
 * results, so the table is produced by the last run, never typed by hand.
 *
 * Results are JSON files, one per case, under test/faults/.results/ (git-ignored), so running one
 * file refreshes its rows and keeps the others' (each row says when it ran).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface FaultResult {
  /** Group the row belongs to: 'network', 'disk', 'database', 'model', 'clock', 'soak', 'fuzz', 'downlink', 'tls', 'at-rest'. */
  group: string;
  /** The fault, as a reader would name it: "4G link down 10 s, WiFi takes over". */
  fault: string;
  /** What the daemon did, measured: "failed over in 1.2 s; 0 records lost; alarm store_full raised". */
  behaviour: string;
  /** Records produced by the unit (outbox sequence numbers issued); null where the case has no record flow. */
  produced: number | null;
  /** Distinct records the server-side receiver saw. */
  received: number | null;
  /** produced - received after the drain; must be 0. */
  lost: number | null;
  /** Duplicates the receiver dropped by (device, seq). */
  duplicates: number | null;
  /** Any further figures worth a column-free mention: { failover_ms: 1234 }. */
  figures?: Record<string, number | string>;
}

interface StoredResult extends FaultResult {
  id: string;
  at: string;
}

const here = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = join(here, '.results');
export const REPORT_PATH = join(here, '..', '..', 'docs', 'reliability.md');

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);

/** Records one fault case's outcome. Call it after the case's assertions passed. */
export function recordFaultResult(r: FaultResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const id = `${slug(r.group)}--${slug(r.fault)}`;
  const stored: StoredResult = { ...r, id, at: new Date().toISOString() };
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
  const lines = [
    '# Reliability: faults and attacks',
    '',
    '<!-- Written by the fault suite (test/faults/global-report.ts) from its last run: do not edit by hand. -->',
    '',
    'Each row is one case of the fault suite: the real daemon or the real store and uplink, real brokers,',
    'real network namespaces, filesystems and clocks. A case records its row only after its assertions',
    'passed. "Lost" is records the unit produced (sequence numbers it issued) that the server-side',
    '`motobio receive` never saw after the drain; it must be 0. Rerun with `npx vitest run test/faults`',
    '(as root: namespaces, tc, nftables and mounts need it).',
    '',
    '| group | fault | what the unit did | produced | received | lost | duplicates dropped | figures | run at (UTC) |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const r of results) {
    const figs = r.figures ? Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join(', ') : '';
    lines.push(`| ${cell(r.group)} | ${cell(r.fault)} | ${cell(r.behaviour)} | ${cell(r.produced)} | ${cell(r.received)} | ${cell(r.lost)} | ${cell(r.duplicates)} | ${cell(figs)} | ${r.at.slice(0, 19).replace('T', ' ')} |`);
  }
  const lost = results.reduce((s, r) => s + (r.lost ?? 0), 0);
  lines.push('', `${results.length} cases; records lost over all of them: ${lost}.`, '');
  return lines.join('\n');
}

export function writeReport(path = REPORT_PATH, dir = RESULTS_DIR): number {
  const results = readFaultResults(dir);
  if (results.length === 0) return 0;
  writeFileSync(path, renderReport(results));
  return results.length;
}
