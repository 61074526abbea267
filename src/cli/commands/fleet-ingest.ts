/**
 * `motobio fleet ingest`: every unit's telemetry from the broker into PostgreSQL (or the
 * embedded PGlite), exactly once (src/fleet/ingest.ts). The fleet code is loaded only when
 * the command runs: the unit's release does not ship src/fleet, and `motobio --help` there
 * must still work.
 */
import { parseCommandArgs, numberOption } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { FLEET_DB_HELP, fleetDbChoice, fleetVersion } from '../fleet-options.js';

export const summary = 'fleet server: ingest every unit\'s telemetry into PostgreSQL exactly once (--broker URL)';

const USAGE = `usage: motobio fleet ingest --broker URL [options]

  --broker URL         mqtts://host:port (mqtt:// only on a trusted loopback)
  --ca/--cert/--key F  PEM files: broker CA, this worker's client certificate and key (CN fleet-ingest)
  --servername NAME    name the broker certificate must carry (default: the URL host)
  --username U         broker user; the password from the environment variable MOTOBIO_FLEET_BROKER_PASSWORD
  --group NAME         shared-subscription group (default ingest): workers of one group share the load
  --worker-id ID       stable id of this worker (default: the host name); its broker sessions survive a crash
  --connections N      parallel broker connections of this worker (default 2)
  --prefix P           topic prefix (default motobio)
  --metrics HOST:PORT  serve /metrics (Prometheus) and /healthz
  --gap-age S          a gap open longer than S seconds is an alarm (default 3600)
  --refresh S          ledger and fleet gauges every S seconds (default 10)
${FLEET_DB_HELP}
Runs until SIGINT/SIGTERM; the message being stored then is committed and acknowledged first.
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('fleet ingest', argv, {
    broker: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    servername: { type: 'string' },
    username: { type: 'string' },
    group: { type: 'string' },
    'worker-id': { type: 'string' },
    connections: { type: 'string' },
    prefix: { type: 'string' },
    metrics: { type: 'string' },
    'gap-age': { type: 'string' },
    refresh: { type: 'string' },
    'db-url-file': { type: 'string' },
    'pglite-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new MotobioError('USAGE', `fleet ingest: unexpected argument "${positionals[0]}"\n${USAGE}`);
  if (!values.broker) throw new MotobioError('USAGE', `fleet ingest: --broker is required\n${USAGE}`);
  for (const [name, v] of [['group', values.group], ['worker-id', values['worker-id']]] as const) {
    if (v !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(v)) throw new MotobioError('USAGE', `fleet ingest: --${name} must be 1-64 letters, digits, _ . or -, got "${v}"`);
  }
  let metricsListen: { host: string; port: number } | undefined;
  if (values.metrics !== undefined) {
    const m = /^(.+):(\d+)$/.exec(values.metrics);
    if (!m) throw new MotobioError('USAGE', `fleet ingest: --metrics must be HOST:PORT, got "${values.metrics}"`);
    metricsListen = { host: m[1], port: Number(m[2]) };
  }
  const connections = numberOption('fleet ingest', 'connections', values.connections, 2);
  const password = process.env['MOTOBIO_FLEET_BROKER_PASSWORD'];

  const { createLogger } = await import('../../util/log.js');
  const { openFleetStore } = await import('../../fleet/open.js');
  const { Ingest } = await import('../../fleet/ingest.js');
  const log = createLogger();
  const store = await openFleetStore(fleetDbChoice(values, { maxConnections: connections + 2 }));
  let ingest;
  try {
    ingest = await Ingest.start({
      broker: {
        url: values.broker,
        ...(values.ca ? { ca: values.ca } : {}),
        ...(values.cert ? { cert: values.cert } : {}),
        ...(values.key ? { key: values.key } : {}),
        ...(values.servername ? { servername: values.servername } : {}),
        ...(values.username ? { username: values.username } : {}),
        ...(password ? { password } : {}),
      },
      store,
      log,
      ...(values.group ? { group: values.group } : {}),
      ...(values['worker-id'] ? { workerId: values['worker-id'] } : {}),
      connections,
      ...(values.prefix ? { topicPrefix: values.prefix } : {}),
      gapAgeLimitS: numberOption('fleet ingest', 'gap-age', values['gap-age'], 3600),
      refreshMs: numberOption('fleet ingest', 'refresh', values.refresh, 10) * 1000,
      ...(metricsListen ? { metricsListen } : {}),
      version: fleetVersion(),
    });
  } catch (e) {
    await store.close();
    throw e;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await ingest.close();
  await store.close();
  log.info(ingest.stats(), 'fleet ingest stopped');
  return 0;
}
