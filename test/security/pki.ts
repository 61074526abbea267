/**
 * A fleet PKI made by openssl in the test's temp dir: the fleet CA, a rogue CA, broker
 * certificates (valid, expired, not yet valid, self-signed) and client certificates whose
 * CN is the device id (valid, expired, signed by the rogue CA). `openssl ca` sets explicit
 * start and end dates (OpenSSL 3.0 has no -not_before on `x509 -req`).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`openssl is needed for the security tests (${r.error.message}); apt-get install openssl`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string, cn: string): void {
  openssl(dir, ['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '3', '-subj', `/CN=${cn}`]);
  mkdirSync(join(dir, `${name}-db`), { recursive: true });
  writeFileSync(join(dir, `${name}-db`, 'index.txt'), '');
  writeFileSync(join(dir, `${name}-db`, 'serial'), '1000\n');
  writeFileSync(
    join(dir, `${name}.cnf`),
    [
      '[ ca ]',
      'default_ca = CA_default',
      '[ CA_default ]',
      `database = ${name}-db/index.txt`,
      `new_certs_dir = ${name}-db`,
      `serial = ${name}-db/serial`,
      'default_md = sha256',
      'policy = policy_any',
      'unique_subject = no',
      'email_in_dn = no',
      '[ policy_any ]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
}

/** Dates as openssl ca wants them (YYYYMMDDHHMMSSZ). */
const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
const DAY = 86_400_000;

function leaf(dir: string, ca: string, name: string, cn: string, from: Date, to: Date, ext?: string): void {
  openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  openssl(dir, [
    'ca', '-batch', '-notext', '-config', `${ca}.cnf`, '-cert', `${ca}.pem`, '-keyfile', `${ca}.key`,
    '-in', `${name}.csr`, '-out', `${name}.pem`, '-startdate', stamp(from), '-enddate', stamp(to),
    ...(ext ? ['-extfile', ext] : []),
  ]);
}

export interface FleetPki {
  readonly dir: string;
  readonly ca: string;
  readonly rogueCa: string;
  /** name -> { cert, key } */
  readonly certs: Record<string, { cert: string; key: string }>;
}

/** Clients: one valid certificate per `clients` entry (CN = the name), plus `<first>-expired` and `<first>-rogue`. */
export function makeFleetPki(dir: string, clients: string[]): FleetPki {
  makeCa(dir, 'ca', 'motobio fleet CA (test)');
  makeCa(dir, 'rogue', 'rogue CA (test)');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:broker.test\n');
  const now = Date.now();
  const valid: [Date, Date] = [new Date(now - DAY), new Date(now + 2 * DAY)];
  leaf(dir, 'ca', 'server', 'broker.test', ...valid, 'server.ext');
  leaf(dir, 'ca', 'server-expired', 'broker.test', new Date(now - 10 * DAY), new Date(now - 5 * DAY), 'server.ext');
  leaf(dir, 'ca', 'server-future', 'broker.test', new Date(now + 5 * DAY), new Date(now + 10 * DAY), 'server.ext');
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'server-self.key', '-out', 'server-self.pem', '-days', '2', '-subj', '/CN=broker.test', '-addext', 'subjectAltName=IP:127.0.0.1']);
  for (const c of clients) leaf(dir, 'ca', c, c, ...valid);
  const first = clients[0];
  leaf(dir, 'ca', `${first}-expired`, first, new Date(now - 10 * DAY), new Date(now - 5 * DAY));
  leaf(dir, 'rogue', `${first}-rogue`, first, ...valid);
  const certs: Record<string, { cert: string; key: string }> = {};
  for (const n of ['server', 'server-expired', 'server-future', 'server-self', ...clients, `${first}-expired`, `${first}-rogue`]) {
    certs[n] = { cert: join(dir, `${n}.pem`), key: join(dir, `${n}.key`) };
  }
  return { dir, ca: join(dir, 'ca.pem'), rogueCa: join(dir, 'rogue.pem'), certs };
}
