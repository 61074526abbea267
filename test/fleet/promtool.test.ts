/**
 * docs/prometheus: the alert rules pass `promtool check rules` and their `promtool test rules`
 * file (Debian `prometheus` ships promtool; missing, the case fails); every alert has a test in
 * which it fires; and every metric the rules name is one the ingest exports (FleetMetrics), so a
 * rename cannot leave an alert that never fires.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO } from '../daemon/helpers.js';
import { FleetMetrics } from '../../src/fleet/metrics.js';

const DIR = join(REPO, 'docs/prometheus');

function promtool(args: string[]) {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool could not run (${r.error.message}): apt-get install prometheus`);
  return r;
}

describe('docs/prometheus alert rules', () => {
  it('pass promtool check rules and promtool test rules', () => {
    const check = promtool(['check', 'rules', 'motobio-fleet.rules.yml']);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = promtool(['test', 'rules', 'motobio-fleet.rules.test.yml']);
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/SUCCESS/);
  });

  it('every alert has a test where it fires, and the rules use only metrics the ingest exports', async () => {
    const rules = parse(readFileSync(join(DIR, 'motobio-fleet.rules.yml'), 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
    const tests = parse(readFileSync(join(DIR, 'motobio-fleet.rules.test.yml'), 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] };
    const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert).map((r) => r.alert!));
    const firing = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect(alerts.filter((a) => !firing.has(a))).toEqual([]);
    const m = new FleetMetrics('test');
    const exported = new Set((await m.registry.getMetricsAsJSON()).flatMap((x) => (String(x.type) === 'histogram' ? [`${x.name}_bucket`, `${x.name}_count`, `${x.name}_sum`] : [x.name])));
    const records = new Set(rules.groups.flatMap((g) => g.rules.filter((r) => r.record).map((r) => r.record!)));
    const used = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => r.expr.match(/\bmotobio_fleet[a-z0-9_:]*/g) ?? [])));
    expect([...used].filter((n) => !exported.has(n) && !records.has(n))).toEqual([]);
  });
});
