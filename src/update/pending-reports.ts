/**
 * Reports made before the store is open (a rollback decided at start-up, before anything else
 * runs) wait in `<update.dir>/pending-reports.json` until the update manager puts them in the
 * outbox. The file survives a crash, so a rollback is reported even if the next start dies too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDurable, writeFileDurable } from './durable-fs.js';

export interface UpdateReport {
  readonly event: 'refused' | 'applied' | 'failed' | 'rolled_back' | 'restarting';
  readonly kind: 'model' | 'config' | null;
  readonly version: number | null;
  readonly reason?: string;
  readonly message: string;
  readonly [k: string]: unknown;
}

const file = (updateDir: string) => join(updateDir, 'pending-reports.json');

export function readPendingReports(updateDir: string): UpdateReport[] {
  try {
    const v = JSON.parse(readFileSync(file(updateDir), 'utf8')) as unknown;
    return Array.isArray(v) ? (v as UpdateReport[]) : [];
  } catch {
    return [];
  }
}

export function addPendingReport(updateDir: string, r: UpdateReport): void {
  writeFileDurable(file(updateDir), `${JSON.stringify([...readPendingReports(updateDir), { ...r, at: new Date().toISOString() }])}\n`);
}

export function clearPendingReports(updateDir: string): void {
  removeDurable(file(updateDir));
}
