/**
 * `motobio fleet rollout start|status|pause|resume|abort|controller`: staged rollouts of a
 * signed model or configuration update (docs/rollouts.md). `start` and the control commands
 * only write the rollout's rows; `controller` is the loop that publishes, waits, gates and
 * rolls back, and can be killed and started again at any moment.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseCommandArgs, numberOption } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { FLEET_DB_HELP, fleetDbChoice } from '../fleet-options.js';

export const summary = 'fleet server: staged rollouts (start --id ID --kind model|config PATH --previous PATH | status ID | pause|resume|abort ID | controller)';

const USAGE = `usage: motobio fleet rollout <subcommand>

  start --id ID --kind model|config PATH [--previous PATH] [options]
      plan a rollout of PATH (a model manifest or its directory; a configuration YAML). ID seeds
      the cohorts: the same ID again is the same canaries (and a repeated start changes nothing).
      --previous PATH      what the units run now, the rollback target (default: the artefact
                           of the last finished rollout of this kind)
      --units all|prefix:P|a,b,c   the fleet selection (default all units the ingest has seen)
      --stages 0.05,0.25,1 cumulative shares
      --soak S             after the stage's reports, watch this long before the gate (60)
      --report-timeout S   stop waiting for unit reports after this long (300)
      --window S           before-window and longest after-window of the gate (600)
      --min-units N, --min-decisions N, --max-error-rate R, --max-p95-ms MS, --max-cue-ratio X,
      --max-safety-ratio X, --max-update-failures N, --max-restarts N, --max-silent N,
      --max-quality-drop Q  gate thresholds (docs/rollouts.md)
      --min-version N      lowest update version to use (units applied versions this database never saw)
  status ID [--json]       stage, units per state, gate figures, the reason of the last decision
  pause ID | resume ID     hold / continue the rollout (idempotent)
  abort ID                 stop and roll back every unit it reached (idempotent)
  controller --broker URL --sign-key PRIV [--ca F --cert F --key F] [--tick S] [--exit-when-idle]
      run the rollouts: publish, wait for reports, soak, gate, roll back. Until SIGINT/SIGTERM.
${FLEET_DB_HELP}`;

const THRESHOLD_FLAGS = {
  'min-units': 'minUnits',
  'min-decisions': 'minDecisions',
  'max-error-rate': 'maxErrorRate',
  'max-p95-ms': 'maxP95Ms',
  'max-cue-ratio': 'maxCueRatio',
  'max-safety-ratio': 'maxSafetyRatio',
  'max-update-failures': 'maxUpdateFailures',
  'max-restarts': 'maxRestarts',
  'max-silent': 'maxSilent',
  'max-quality-drop': 'maxQualityDrop',
} as const;

const strings = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, { type: 'string' as const }]));

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('fleet rollout', argv, {
    ...strings(['id', 'kind', 'previous', 'units', 'stages', 'soak', 'report-timeout', 'window', 'min-version', ...Object.keys(THRESHOLD_FLAGS)]),
    ...strings(['broker', 'ca', 'cert', 'key', 'servername', 'sign-key', 'tick', 'prefix', 'client-id', 'db-url-file', 'pglite-dir']),
    json: { type: 'boolean', default: false },
    'exit-when-idle': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  const v = values as Record<string, string | boolean | undefined>;
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const { openFleetStore } = await import('../../fleet/open.js');
  const store = await openFleetStore(fleetDbChoice(v, { maxConnections: 2 }));
  try {
    const ctl = await import('../../fleet/rollout/controller.js');
    if (sub === 'start') return await start(store.sql, v, rest);
    if (sub === 'controller') return await controller(store.sql, v);
    const id = rest[0];
    if (id === undefined || rest.length > 1) throw new MotobioError('USAGE', `fleet rollout ${sub}: give one rollout ID\n${USAGE}`);
    if (sub === 'status') {
      const s = await ctl.rolloutStatus(store.sql, id);
      if (!s) throw new MotobioError('USAGE', `fleet rollout status: no rollout "${id}"`);
      process.stdout.write(values.json ? `${JSON.stringify(s)}\n` : formatStatus(s));
      return 0;
    }
    if (sub === 'pause' || sub === 'resume' || sub === 'abort') {
      process.stdout.write(`${await ctl.control(store.sql, id, sub)}\n`);
      return 0;
    }
    throw new MotobioError('USAGE', `fleet rollout: unknown subcommand "${sub}"\n${USAGE}`);
  } finally {
    await store.close();
  }
}

async function artefactFiles(kind: string, path: string): Promise<Record<string, string>> {
  try {
    statSync(path);
  } catch {
    throw new MotobioError('USAGE', `fleet rollout start: ${path} does not exist`);
  }
  if (kind === 'model') {
    const { modelFiles } = await import('./keys.js');
    return Object.fromEntries((await modelFiles(path)).map(([n, b]) => [n, b.toString('base64')]));
  }
  const { CONFIG_FILE_NAME } = await import('../../config/in-force.js');
  return { [CONFIG_FILE_NAME]: readFileSync(path).toString('base64') };
}

async function start(db: import('../../fleet/sql.js').SqlClient, v: Record<string, string | boolean | undefined>, rest: string[]): Promise<number> {
  const id = v['id'];
  const kind = v['kind'];
  if (typeof id !== 'string' || rest.length !== 1) throw new MotobioError('USAGE', `fleet rollout start: --id ID and one PATH are required\n${USAGE}`);
  if (kind !== 'model' && kind !== 'config') throw new MotobioError('USAGE', `fleet rollout start: --kind must be model or config, got "${String(kind)}"`);
  const n = (name: string, fallback: number) => numberOption('fleet rollout start', name, v[name] as string | undefined, fallback);
  const thresholds: Record<string, number> = {};
  for (const [flag, key] of Object.entries(THRESHOLD_FLAGS)) if (typeof v[flag] === 'string') thresholds[key] = n(flag, 0);
  const stages = typeof v['stages'] === 'string' ? v['stages'].split(',').map(Number) : undefined;
  const { createRollout } = await import('../../fleet/rollout/controller.js');
  const { created, row } = await createRollout(db, {
    id,
    kind,
    artefact: await artefactFiles(kind, rest[0]),
    ...(typeof v['previous'] === 'string' ? { previous: await artefactFiles(kind, v['previous']) } : {}),
    ...(typeof v['units'] === 'string' ? { selection: v['units'] } : {}),
    ...(stages ? { stages } : {}),
    thresholds,
    soakS: n('soak', 60),
    reportTimeoutS: n('report-timeout', 300),
    windowS: n('window', 600),
    minVersion: n('min-version', 1),
  });
  process.stdout.write(`${created ? 'planned' : 'already planned'} rollout ${row.id}: ${row.kind} version ${row.version} (rollback version ${row.rollback_version}), stages ${row.stages.join(', ')}; state ${row.state}\n`);
  return 0;
}

async function controller(db: import('../../fleet/sql.js').SqlClient, v: Record<string, string | boolean | undefined>): Promise<number> {
  if (typeof v['broker'] !== 'string' || typeof v['sign-key'] !== 'string') throw new MotobioError('USAGE', `fleet rollout controller: --broker and --sign-key are required\n${USAGE}`);
  const { createLogger } = await import('../../util/log.js');
  const { readPrivateKey } = await import('../../update/keys.js');
  const { connectPublisher } = await import('../../fleet/rollout/publisher.js');
  const { RolloutController } = await import('../../fleet/rollout/controller.js');
  const log = createLogger().child({ mod: 'rollout' });
  const key = readPrivateKey(v['sign-key']);
  const str = (k: string) => (typeof v[k] === 'string' ? { [k]: v[k] } : {});
  const publisher = await connectPublisher({ url: v['broker'], ...str('ca'), ...str('cert'), ...str('key'), ...str('servername') }, { clientId: typeof v['client-id'] === 'string' ? v['client-id'] : 'fleet-rollout', log, ...(typeof v['prefix'] === 'string' ? { prefix: v['prefix'] } : {}) });
  const ctl = new RolloutController({ db, publisher, key, log });
  const tickMs = numberOption('fleet rollout controller', 'tick', v['tick'] as string | undefined, 2) * 1000;
  let stop = false;
  const wake: { fn?: () => void } = {};
  const halt = () => {
    stop = true;
    wake.fn?.();
  };
  process.once('SIGINT', halt);
  process.once('SIGTERM', halt);
  log.info('fleet rollout controller running');
  while (!stop) {
    const active = await ctl.tick();
    if (active === 0 && v['exit-when-idle'] === true) break;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, tickMs);
      wake.fn = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
  await publisher.close();
  log.info('fleet rollout controller stopped');
  return 0;
}

function formatStatus(s: Record<string, unknown>): string {
  const last = s['last_decision'] as { stage: number; decision: string; reason: string; at: string; figures?: { checks?: { name: string; value: number | null; limit: number; ok: boolean }[] } } | null;
  const lines = [
    `rollout ${String(s['id'])}: ${String(s['kind'])} version ${String(s['version'])} (rollback ${String(s['rollback_version'])})`,
    `state ${String(s['state'])}${s['abort_requested'] ? ' (abort requested)' : ''}, stage ${Number(s['stage']) + 1} of ${(s['stages'] as number[]).length} (${(s['stages'] as number[]).join(', ')}), phase ${String(s['phase'])}`,
    'units:',
    ...Object.entries(s['units'] as Record<string, Record<string, number>>).map(([st, m]) => `  ${st}: ${Object.entries(m).map(([k, n]) => `${k} ${n}`).join(', ')}`),
  ];
  if (last) {
    lines.push(`last decision: stage ${last.stage + 1} ${last.decision} at ${last.at}: ${last.reason}`);
    for (const c of last.figures?.checks ?? []) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(16)} ${c.value === null ? 'n/a' : +c.value.toPrecision(4)} (limit ${c.limit})`);
  }
  return `${lines.join('\n')}\n`;
}
