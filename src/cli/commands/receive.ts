/**
 * `motobio receive`: the reference consumer for the server team. Subscribes to every
 * device's batches, decodes them, drops duplicates by (device, seq), reports gaps and
 * duplicate counts, and optionally writes new records as NDJSON.
 */
import { parseCommandArgs, numberOption } from '../args.js';
import { MotobioError } from '../../util/errors.js';

export const summary = 'reference telemetry consumer: decode, de-duplicate, report gaps (--url URL [--out FILE.ndjson])';

const USAGE = `usage: motobio receive --url URL [--out FILE.ndjson] [options]

  --url URL            broker, mqtt://host:port or mqtts://host:port
  --out FILE           append each new (de-duplicated) record as one JSON line (file mode 0600)
  --ca/--cert/--key F  PEM files: broker CA, client certificate and key
  --servername NAME    name the broker certificate must carry (default: the URL host)
  --username U         password from the environment variable MOTOBIO_RECEIVE_PASSWORD
  --group NAME         MQTT 5 shared subscription ($share/NAME/...) to spread load over consumers
  --session ID         persistent session: the broker keeps messages while this consumer is away
  --prefix P           topic prefix (default motobio)
  --from-first-seen    a device's first seq is the first one seen (joining a running fleet)
  --duration S         stop after S seconds (default: until SIGINT/SIGTERM)
  --count N            stop once N new records arrived
  --report-every S     print a progress line to stderr every S seconds (default 10, 0 = never)

At the end prints one JSON object: per device received, duplicates, maxSeq, missing,
evicted (announced by the device), lost (missing and unexplained) and the first gaps.
Exit status 0, or 1 when any device has lost records.
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('receive', argv, {
    url: { type: 'string' },
    out: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    servername: { type: 'string' },
    username: { type: 'string' },
    group: { type: 'string' },
    session: { type: 'string' },
    prefix: { type: 'string' },
    'from-first-seen': { type: 'boolean', default: false },
    duration: { type: 'string' },
    count: { type: 'string' },
    'report-every': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new MotobioError('USAGE', `receive: unexpected argument "${positionals[0]}"\n${USAGE}`);
  if (!values.url) throw new MotobioError('USAGE', `receive: --url is required\n${USAGE}`);
  if (values.group !== undefined && !/^[A-Za-z0-9_-]+$/.test(values.group)) throw new MotobioError('USAGE', `receive: --group must be letters, digits, _ or -, got "${values.group}"`);
  const duration = numberOption('receive', 'duration', values.duration, 0);
  const count = numberOption('receive', 'count', values.count, 0);
  const every = numberOption('receive', 'report-every', values['report-every'], 10);
  const password = process.env['MOTOBIO_RECEIVE_PASSWORD'];

  const { Receiver } = await import('../../uplink/receiver.js');
  const receiver = await Receiver.start({
    link: {
      url: values.url,
      ...(values.ca ? { ca: values.ca } : {}),
      ...(values.cert ? { cert: values.cert } : {}),
      ...(values.key ? { key: values.key } : {}),
      ...(values.servername ? { servername: values.servername } : {}),
      ...(values.username ? { username: values.username } : {}),
      ...(password ? { password } : {}),
    },
    ...(values.out ? { out: values.out } : {}),
    ...(values.group ? { group: values.group } : {}),
    ...(values.session ? { sessionId: values.session } : {}),
    ...(values.prefix ? { topicPrefix: values.prefix } : {}),
    start: values['from-first-seen'] ? 'first-seen' : 1,
  });
  let received = 0;
  await new Promise<void>((resolve) => {
    const finish = () => resolve();
    receiver.on('record', () => {
      if (count > 0 && ++received >= count) finish();
    });
    if (duration > 0) setTimeout(finish, duration * 1000).unref();
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    if (every > 0) {
      const t = setInterval(() => {
        const s = receiver.stats();
        const parts = Object.entries(s.devices).map(([d, r]) => `${d}: ${r.received} new, ${r.duplicates} dup, max seq ${r.maxSeq}, missing ${r.missing}`);
        process.stderr.write(`receive: ${s.batches} batches; ${parts.join('; ') || 'no data yet'}\n`);
      }, every * 1000);
      t.unref();
    }
  });
  await receiver.close();
  const s = receiver.stats();
  process.stdout.write(`${JSON.stringify({ batches: s.batches, badMessages: s.badMessages, lastError: s.lastError, devices: s.devices, status: s.status })}\n`);
  return Object.values(s.devices).some((d) => d.lost > 0) ? 1 : 0;
}
