/**
 * `motobio test comms`: for every configured link, connect, publish QoS 1 test messages,
 * wait for each PUBACK, and report round-trip p50/p95, TLS details and pass/fail, so an
 * installer can see on the spot which path works.
 */
import { parseCommandArgs, numberOption } from '../args.js';
import { MotobioError, errorMessage } from '../../util/errors.js';
import type { LinkConfig, TlsInfo } from '../../uplink/link.js';

export const summary = 'connect every configured link, publish, time the PUBACKs, report TLS and pass/fail';

const USAGE = `usage: motobio test comms [--config FILE] [--url URL [--ca F --cert F --key F --servername N]]
                         [--count N] [--json]

Tests every link in uplink.links of the configuration (or one ad-hoc --url): connect, publish
N QoS 1 messages (default 10) to {prefix}/v1/{device}/test/{link}, and time each PUBACK.
Exit status 0 when every link passes, 1 otherwise.
`;

export interface LinkResult {
  link: string;
  url: string;
  ok: boolean;
  connectMs: number | null;
  protocol: string | null;
  acked: number;
  rttP50Ms: number | null;
  rttP95Ms: number | null;
  tls: TlsInfo | null;
  error: string | null;
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export async function testLink(cfg: LinkConfig, device: string, prefix: string, count: number): Promise<LinkResult> {
  const { LinkConnection, safeUrl } = await import('../../uplink/link.js');
  const res: LinkResult = { link: cfg.name, url: safeUrl(cfg.url), ok: false, connectMs: null, protocol: null, acked: 0, rttP50Ms: null, rttP95Ms: null, tls: null, error: null };
  const t0 = performance.now();
  let conn;
  try {
    conn = await LinkConnection.connect({ connectTimeoutMs: 10_000, keepaliveS: 10, ...cfg }, { clientId: `${device}.test-${cfg.name}` });
  } catch (e) {
    res.error = errorMessage(e);
    return res;
  }
  res.connectMs = Math.round((performance.now() - t0) * 10) / 10;
  res.tls = conn.tls;
  res.protocol = `MQTT ${conn.protocolVersion === 5 ? '5' : '3.1.1'}`;
  const rtts: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const body = Buffer.from(JSON.stringify({ v: 1, test: i, at: Date.now(), pad: 'x'.repeat(160) }));
      const t = performance.now();
      await conn.publish(`${prefix}/v1/${device}/test/${cfg.name}`, body, {}, 5000);
      rtts.push(performance.now() - t);
      res.acked++;
    }
  } catch (e) {
    res.error = errorMessage(e);
  } finally {
    await conn.close();
  }
  rtts.sort((a, b) => a - b);
  const r1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  res.rttP50Ms = r1(quantile(rtts, 0.5));
  res.rttP95Ms = r1(quantile(rtts, 0.95));
  res.ok = res.error === null && res.acked === count;
  return res;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('test comms', argv, {
    config: { type: 'string' },
    url: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    servername: { type: 'string' },
    count: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new MotobioError('USAGE', `test comms: unexpected argument "${positionals[0]}"\n${USAGE}`);
  const count = numberOption('test comms', 'count', values.count, 10);
  if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new MotobioError('USAGE', `test comms: --count must be an integer 1..10000, got ${count}`);

  let links: LinkConfig[];
  let device = 'test-unit';
  let prefix = 'motobio';
  if (values.url) {
    links = [
      {
        name: 'adhoc',
        url: values.url,
        ...(values.ca ? { ca: values.ca } : {}),
        ...(values.cert ? { cert: values.cert } : {}),
        ...(values.key ? { key: values.key } : {}),
        ...(values.servername ? { servername: values.servername } : {}),
      },
    ];
  } else {
    const { configInForce } = await import('../../config/in-force.js');
    const { linkFromConfig } = await import('../../uplink/from-config.js');
    const { config } = configInForce(values.config !== undefined ? { file: values.config } : {});
    device = config.device.id;
    prefix = config.uplink.topic_prefix;
    links = config.uplink.links.map((l) => linkFromConfig(l));
    if (links.length === 0) throw new MotobioError('CONFIG_INVALID', 'test comms: the configuration has no uplink.links; add at least one link (name, url) or pass --url');
  }

  const results: LinkResult[] = [];
  for (const l of links) results.push(await testLink(l, device, prefix, count));
  if (values.json) process.stdout.write(`${JSON.stringify({ ok: results.every((r) => r.ok), links: results })}\n`);
  else {
    for (const r of results) {
      const tls = r.tls ? `${r.tls.protocol ?? '?'} ${r.tls.cipher}, broker ${r.tls.peerSubject} (issuer ${r.tls.peerIssuer}, valid to ${r.tls.validTo})` : r.url.startsWith('mqtts') ? 'TLS not established' : 'no TLS';
      process.stdout.write(
        `${r.ok ? 'PASS' : 'FAIL'} ${r.link.padEnd(8)} ${r.url}\n` +
          `     connect ${r.connectMs ?? '-'} ms, ${r.protocol ?? '-'}, ${r.acked}/${count} acked, rtt p50 ${r.rttP50Ms ?? '-'} ms p95 ${r.rttP95Ms ?? '-'} ms\n` +
          `     ${tls}\n` +
          (r.error ? `     error: ${r.error}\n` : ''),
      );
    }
  }
  return results.every((r) => r.ok) ? 0 : 1;
}
