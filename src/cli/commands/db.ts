/**
 * `motobio db backup|restore|stats|export`: outbox maintenance for technicians.
 * backup is online (SQLite backup API: a consistent copy while the daemon keeps writing);
 * restore needs the daemon stopped and moves the current store aside, never deleting it.
 */
import { chmodSync, closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { EncryptionSettings, RecordCipher } from '../../store/record-cipher.js';
import { parseCommandArgs } from '../args.js';
import { MotobioError } from '../../util/errors.js';

export const summary = 'outbox maintenance: backup DEST | restore SRC | stats | export --from T --to T | keygen --out FILE';

const USAGE = `usage: motobio db <subcommand> [--db PATH | --config FILE]

  backup DEST                    online, consistent copy of the store (mode 0600; DEST must not exist)
  restore SRC [--force]          replace the store with a backup (stop the daemon first); the
                                 current store is moved aside, and the sequence continues above
                                 anything already issued
  stats [--json] [--check]       records and bytes per priority, evictions, time span; --check
                                 runs a full integrity check
  export [--from T] [--to T] [--format ndjson|csv] [--out FILE] [--ecg-samples]
                                 records (still in the outbox) with wall time in [from, to); T is
                                 an ISO 8601 time or epoch milliseconds; an encrypted store
                                 needs its key: store.encryption of --config, or --key-file
                                 FILE (repeatable, for keys before a rotation)
  keygen --out FILE              make a store encryption key (32 random bytes, base64, mode
                                 0600; FILE must not exist) and print its key id

The store is --db PATH, else store.path of the configuration.
`;

function parseTime(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new MotobioError('USAGE', `db export: --${name} "${v}" is neither an ISO 8601 time (2026-05-01T08:00:00Z) nor epoch milliseconds`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('db', argv, {
    db: { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
    from: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string', default: 'ndjson' },
    out: { type: 'string' },
    'ecg-samples': { type: 'boolean', default: false },
    'key-file': { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h', default: false },
  });
  const [sub, arg, ...extra] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(USAGE);
    return sub === undefined && !values.help ? 2 : 0;
  }
  if (extra.length > 0) throw new MotobioError('USAGE', `db ${sub}: unexpected argument "${extra[0]}"\n${USAGE}`);
  if (sub === 'keygen') return keygen(arg, values.out);
  let path = values.db;
  let encryption: EncryptionSettings | undefined;
  if (path === undefined || values.config !== undefined) {
    // The store the daemon uses, whatever the current directory (src/config/in-force.ts).
    const { configInForce } = await import('../../config/in-force.js');
    const { config } = configInForce(values.config !== undefined ? { file: values.config } : {});
    path ??= config.store.path;
    encryption = config.store.encryption;
  }
  const store = await import('../../store/inspect.js');
  switch (sub) {
    case 'backup': {
      if (!arg) throw new MotobioError('USAGE', `db backup: name the destination file\n${USAGE}`);
      const r = await store.backupStore(path, arg);
      process.stdout.write(`backed up ${path} to ${arg} (${r.pages} pages)\n`);
      return 0;
    }
    case 'restore': {
      if (!arg) throw new MotobioError('USAGE', `db restore: name the backup file to restore\n${USAGE}`);
      const r = await store.restoreStore(arg, path, { force: values.force });
      process.stdout.write(`restored ${arg} into ${path}${r.movedAside ? `; the previous store is at ${r.movedAside}` : ''}; next seq ${r.nextSeq}\n`);
      return 0;
    }
    case 'stats': {
      if (arg) throw new MotobioError('USAGE', `db stats: unexpected argument "${arg}"`);
      const r = store.storeReport(path, { check: values.check });
      if (values.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else {
        const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
        process.stdout.write(
          [
            `store        ${r.path} (${r.fileBytes} bytes + ${r.walBytes} WAL), schema v${r.schemaVersion}`,
            `device       ${r.deviceId ?? '-'}, next seq ${r.nextSeq ?? '-'}`,
            `records      ${r.records} (${r.bytes} bytes): ${Object.entries(r.depth).map(([p, n]) => `${p} ${n}`).join(', ')}`,
            `evicted      ${Object.entries(r.evicted).map(([p, n]) => `${p} ${n}`).join(', ')}; ${r.pendingEvictionNotices} notices not yet sent`,
            `time span    ${iso(r.oldestWallMs)} .. ${iso(r.newestWallMs)}`,
            ...(r.integrity !== undefined ? [`integrity    ${r.integrity}`] : []),
          ].join('\n') + '\n',
        );
      }
      return values.check && r.integrity !== 'ok' ? 1 : 0;
    }
    case 'export': {
      if (arg) throw new MotobioError('USAGE', `db export: unexpected argument "${arg}" (use --out FILE)`);
      if (values.format !== 'ndjson' && values.format !== 'csv') throw new MotobioError('USAGE', `db export: --format must be ndjson or csv, got "${values.format}"`);
      const from = parseTime('from', values.from);
      const to = parseTime('to', values.to);
      if (from !== undefined && to !== undefined && to <= from) throw new MotobioError('USAGE', `db export: --to must be after --from`);
      let fd: number | undefined;
      if (values.out) {
        try {
          fd = openSync(values.out, 'wx', 0o600);
        } catch (e) {
          throw new MotobioError('USAGE', `db export: cannot create ${values.out} (${(e as Error).message}); exports never overwrite, choose a new file`);
        }
      }
      const chunks: string[] = [];
      const flush = () => {
        const text = chunks.splice(0).join('');
        if (fd !== undefined) writeSync(fd, text);
        else process.stdout.write(text);
      };
      let n: number;
      try {
        const keyFiles = values['key-file'] ?? [];
        const { cipherFromSettings, readKeyFile, RecordCipher } = await import('../../store/record-cipher.js');
        let cipher: RecordCipher | undefined;
        if (keyFiles.length > 0) {
          const keys = keyFiles.map((f) => readKeyFile(f));
          cipher = new RecordCipher(keys[0], keys.slice(1));
        } else if (encryption) cipher = cipherFromSettings(encryption);
        n = store.exportRecords(path, { ...(cipher ? { cipher } : {}), format: values.format, ecgSamples: values['ecg-samples'], ...(from !== undefined ? { fromWallMs: from } : {}), ...(to !== undefined ? { toWallMs: to } : {}) }, (s) => {
          chunks.push(s);
          if (chunks.length >= 512) flush();
        });
        flush();
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
      if (values.out) process.stderr.write(`exported ${n} records to ${values.out}\n`);
      return 0;
    }
    default:
      throw new MotobioError('USAGE', `db: unknown subcommand "${sub}"; use backup, restore, stats, export or keygen\n${USAGE}`);
  }
}

/** Writes a new store key: 32 random bytes as base64, mode 0600, never over an existing file. */
async function keygen(arg: string | undefined, out: string | undefined): Promise<number> {
  if (arg !== undefined) throw new MotobioError('USAGE', `db keygen: unexpected argument "${arg}"; use --out FILE`);
  if (!out) throw new MotobioError('USAGE', `db keygen: name the key file with --out FILE (e.g. /etc/motobio/store.key)\n${USAGE}`);
  const { randomBytes } = await import('node:crypto');
  const { keyId, KEY_BYTES } = await import('../../store/record-cipher.js');
  const key = randomBytes(KEY_BYTES);
  let fd: number;
  try {
    fd = openSync(out, 'wx', 0o600);
  } catch (e) {
    throw new MotobioError('USAGE', `db keygen: cannot create ${out} (${(e as Error).message}); keys are never overwritten (records sealed with the old key would no longer open): choose a new file`);
  }
  try {
    writeSync(fd, `${key.toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(out, 0o600);
  process.stdout.write(`wrote a new store key to ${out} (mode 0600), key id ${keyId(key)}\nset store.encryption.key_file: ${out} (or LoadCredential= and store.encryption.credential; docs/security.md)\n`);
  return 0;
}
