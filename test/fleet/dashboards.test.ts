/**
 * docs/grafana: every panel's SQL runs against the real schema on a real PostgreSQL 15 (the
 * Grafana macros substituted the way Grafana's PostgreSQL datasource expands them), on data
 * ingested from real batches, and returns rows; every Prometheus panel names only metrics the
 * ingest exports. A dashboard cannot drift from the tables without this failing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../daemon/helpers.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';
import { PgClient } from '../../src/fleet/db-pg.js';
import { SqlFleetStore } from '../../src/fleet/store.js';
import { FleetMetrics } from '../../src/fleet/metrics.js';
import { ingest } from './store-contract.js';
import { range } from './helpers/batches.js';

interface Target { refId: string; rawSql?: string; expr?: string }
interface Panel { title: string; targets: Target[] }
interface Dashboard { title: string; panels: Panel[]; templating: { list: { name: string; query: string }[] } }

const DIR = join(REPO, 'docs/grafana/dashboards');
const dashboards = readdirSync(DIR).filter((f) => f.endsWith('.json')).map((f) => ({ file: f, d: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Dashboard }));

const FROM = new Date(Date.now() - 48 * 3600_000).toISOString();
const TO = new Date(Date.now() + 3600_000).toISOString();
const seconds = (iv: string) => {
  const m = /^'?(\d+)([smhd])'?$/.exec(iv.trim());
  if (!m) throw new Error(`interval ${iv} is not like '5m'`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
};

/** Grafana's PostgreSQL macros (grafana-postgresql-datasource macros.go) and the dashboard variables. */
export function expandMacros(sql: string, vars: Record<string, string>): string {
  let s = sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_m, c: string) => `${c.trim()} BETWEEN '${FROM}' AND '${TO}'`)
    .replace(/\$__timeGroupAlias\(([^,]+),([^)]+)\)/g, (_m, c: string, iv: string) => `floor(extract(epoch from ${c.trim()})/${seconds(iv)})*${seconds(iv)} AS "time"`)
    .replace(/\$__timeGroup\(([^,]+),([^)]+)\)/g, (_m, c: string, iv: string) => `floor(extract(epoch from ${c.trim()})/${seconds(iv)})*${seconds(iv)}`)
    .replace(/\$__timeFrom\(\)/g, `'${FROM}'`)
    .replace(/\$__timeTo\(\)/g, `'${TO}'`);
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`$${k}`, v);
  if (/\$\w/.test(s)) throw new Error(`unexpanded macro or variable in: ${s}`);
  return s;
}

let pg: PgCluster;
let store: SqlFleetStore;
beforeAll(async () => {
  pg = await startPostgres();
  store = new SqlFleetStore(await PgClient.open(pg.url));
  await store.migrate();
  const now = Date.now();
  const wall = (k: number) => now - 3600_000 + k * 1000;
  await ingest(store, 'bike-1', [
    ...range(1, 50).map((seq) => ({ seq, wall: wall(seq) })),
    { seq: 51, type: 'decision', wall: wall(51), data: { action: 'breathe', source: 'model', model: { name: 'policy-int8', version: '3' }, latencyMs: { total: 11 } } },
    { seq: 52, type: 'cue', wall: wall(52), data: { decisionSeq: 51, state: 'heard' } },
    { seq: 53, type: 'safety', wall: wall(53), data: { rule: 'hr-high', value: 185, threshold: 170, message: 'HR high' } },
    { seq: 54, type: 'ecg', ecg: true, wall: wall(54) },
    { seq: 55, type: 'status', wall: wall(55), data: { kind: 'health', version: '0.1.0', model: 'policy-int8@3', cpu: 0.3, memory: 0.4, outbox: { records: 3, ageS: 10 }, link: 'lte', decisionP95Ms: 12, qualityGood: 0.98 } },
  ], [{ firstSeq: 60, lastSeq: 70, priority: 'raw', count: 11, wallMs: now }]);
  await ingest(store, 'bike-1', [{ seq: 80, wall: wall(80) }]);
  await store.linkStatus({ device: 'bike-1', link: 'lte', state: 'online', boot: 'b', atMs: now });
}, 120_000);
afterAll(async () => {
  await store?.close();
  pg?.close();
});

describe('docs/grafana dashboards', () => {
  for (const { file, d } of dashboards) {
    it(`${file}: every SQL panel runs on the schema and returns rows; every PromQL panel uses exported metrics`, async () => {
      const vars = { device: 'bike-1' };
      for (const v of d.templating.list) expect((await store.sql.query(expandMacros(v.query, vars))).rows.length, `variable ${v.name}`).toBeGreaterThan(0);
      const exported = new Set((await new FleetMetrics('t').registry.getMetricsAsJSON()).flatMap((x) => (String(x.type) === 'histogram' ? [`${x.name}_bucket`, `${x.name}_count`, `${x.name}_sum`] : [x.name])));
      let sqlPanels = 0;
      for (const p of d.panels) {
        for (const t of p.targets) {
          if (t.rawSql !== undefined) {
            sqlPanels++;
            const sql = expandMacros(t.rawSql, vars);
            const r = await store.sql.query(sql).catch((e: unknown) => {
              throw new Error(`panel "${p.title}" (${file}): ${(e as Error).message}\n${sql}`);
            });
            expect(r.rows.length, `panel "${p.title}" returned no rows`).toBeGreaterThan(0);
          } else if (t.expr !== undefined) {
            const names = t.expr.match(/\bmotobio_fleet_[a-z0-9_]+/g) ?? [];
            expect(names.length, `panel "${p.title}" names no motobio metric`).toBeGreaterThan(0);
            expect(names.filter((n) => !exported.has(n)), `panel "${p.title}"`).toEqual([]);
          } else throw new Error(`panel "${p.title}" target ${t.refId} has neither rawSql nor expr`);
        }
      }
      expect(sqlPanels).toBeGreaterThan(0);
    });
  }
});
