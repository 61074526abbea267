/**
 * One link (a broker reached over one network path) and its current MQTT 5 connection.
 * We build the socket ourselves and hand it to MqttClient, so we control TLS (verification
 * always on), the local address to bind (the LTE or WiFi interface's address) and we can
 * count the real bytes on the wire. MQTT.js's own reconnect is off: the uplink decides when
 * and where to reconnect, and a dead connection is thrown away, never revived.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { MqttClient, type IClientOptions, type IClientPublishOptions, type ISubscriptionGrant } from 'mqtt';
import { MotobioError, errorMessage } from '../util/errors.js';
import { describeConnectError, type TlsContext } from './tls-errors.js';
import { BROKER_URL_RULE, parseBrokerUrl, type BrokerAddress } from '../config/broker-url.js';

export interface LinkConfig {
  /** Short name used in logs, metrics and the status topic, e.g. `lte`, `wifi`. */
  readonly name: string;
  /** `mqtt://host:port` or `mqtts://host:port`. */
  readonly url: string;
  /** PEM file paths. `ca` pins the broker's CA; cert+key present a client certificate. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** TLS SNI and the name the broker certificate must carry, when it differs from the URL host. */
  readonly servername?: string;
  /** Local address to bind, which picks the interface (e.g. the LTE modem's address). */
  readonly localAddress?: string;
  readonly username?: string;
  readonly password?: string;
  /** MQTT keepalive; the link is declared dark after 1.5x this without a PINGRESP. */
  readonly keepaliveS?: number;
  readonly connectTimeoutMs?: number;
  /** 5 (default) falls back to 3.1.1 when the broker refuses MQTT 5 (e.g. aedes); 4 forces 3.1.1. */
  readonly mqttVersion?: 5 | 4;
}

export interface TlsInfo {
  readonly protocol: string | null;
  readonly cipher: string;
  readonly peerSubject: string;
  readonly peerIssuer: string;
  readonly validTo: string;
  readonly authorized: boolean;
}

export interface ConnectOptions {
  readonly clientId: string;
  readonly will?: { topic: string; payload: Buffer; retain: boolean };
  readonly onMessage?: (topic: string, payload: Buffer) => void;
  /** Persistent session (consumers): clean=false and this session expiry. */
  readonly sessionExpiryS?: number;
  readonly protocolVersion?: 5 | 4;
}

/** MQTT 5 PUBACK reason 0x10: the broker took the message, but no subscription matched, so nobody has it. */
export const NO_MATCHING_SUBSCRIBERS = 16;

/** The MQTT 5 PUBACK reason code (>= 0x80) when the broker refused a publish, e.g. 135 not authorized. */
export function refusalCode(e: unknown): number | undefined {
  const rc = (e as { reasonCode?: unknown } | undefined)?.reasonCode;
  return typeof rc === 'number' && rc >= 0x80 ? rc : undefined;
}

/** The URL without credentials, for logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '<invalid url>';
  }
}

function readPem(link: string, what: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new MotobioError('CONFIG_INVALID', `link ${link}: cannot read ${what} file ${path} (${errorMessage(e)}); fix uplink.links[].${what}`);
  }
}

export function parseLinkUrl(cfg: LinkConfig): BrokerAddress {
  const got = parseBrokerUrl(cfg.url);
  if ('error' in got) throw new MotobioError('CONFIG_INVALID', `link ${cfg.name}: "${safeUrl(cfg.url)}" ${got.error}; it must be ${BROKER_URL_RULE}`);
  return got;
}

export class LinkConnection extends EventEmitter<{ down: [reason: string] }> {
  readonly link: string;
  private client: MqttClient | undefined;
  private socket: net.Socket | undefined;
  private dead = false;
  private readonly pending = new Set<(reason: string) => void>();
  /** Message ids whose PUBACK said 16 (no matching subscribers): MQTT.js reports those as plain success. */
  private readonly unrouted = new Set<number>();
  tls: TlsInfo | null = null;
  protocolVersion: 5 | 4 = 5;
  readonly connectedAt = Date.now();

  private constructor(link: string) {
    super();
    this.link = link;
  }

  get alive(): boolean {
    return !this.dead;
  }

  get bytesOut(): number {
    return this.socket?.bytesWritten ?? 0;
  }

  get bytesIn(): number {
    return this.socket?.bytesRead ?? 0;
  }

  /** Connects with MQTT 5, or 3.1.1 when the link says so or the broker refuses 5. */
  static async connect(cfg: LinkConfig, opts: ConnectOptions): Promise<LinkConnection> {
    if (cfg.mqttVersion === 4) return LinkConnection.connectOnce(cfg, { ...opts, protocolVersion: 4 });
    try {
      return await LinkConnection.connectOnce(cfg, { ...opts, protocolVersion: 5 });
    } catch (e) {
      if (!/unacceptable protocol version/i.test(errorMessage(e))) throw e;
      return LinkConnection.connectOnce(cfg, { ...opts, protocolVersion: 4 });
    }
  }

  /** Connects and resolves once CONNACK arrived; rejects with the reason otherwise. */
  private static connectOnce(cfg: LinkConfig, opts: ConnectOptions): Promise<LinkConnection> {
    const { host, port, secure } = parseLinkUrl(cfg);
    const ca = readPem(cfg.name, 'ca', cfg.ca);
    const cert = readPem(cfg.name, 'cert', cfg.cert);
    const key = readPem(cfg.name, 'key', cfg.key);
    const conn = new LinkConnection(cfg.name);
    const v5 = opts.protocolVersion !== 4;
    conn.protocolVersion = v5 ? 5 : 4;
    const timeoutMs = cfg.connectTimeoutMs ?? 3000;
    const tlsCtx: TlsContext | undefined = secure ? { host, ...(cfg.servername ? { servername: cfg.servername } : {}), ...(cfg.ca ? { ca: cfg.ca } : {}), ...(cfg.cert ? { cert: cfg.cert } : {}) } : undefined;
    const why = (e: unknown) => describeConnectError(e, tlsCtx && { ...tlsCtx, handshakeDone: conn.tls !== null });
    return new Promise<LinkConnection>((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        conn.kill(why);
        reject(new MotobioError('UPLINK_FAILED', `link ${cfg.name} (${safeUrl(cfg.url)}): ${why}`));
      };
      const timer = setTimeout(() => fail(`no CONNACK within ${timeoutMs} ms`), timeoutMs);
      const build = () => {
        const base = { host, port, ...(cfg.localAddress ? { localAddress: cfg.localAddress } : {}) };
        let s: net.Socket;
        if (secure) {
          const t = tls.connect({
            ...base,
            ca,
            cert,
            key,
            servername: cfg.servername ?? (net.isIP(host) ? undefined : host),
            // Never configurable: a unit that talks to an unverified broker leaks health data.
            rejectUnauthorized: true,
            ...(cfg.servername && net.isIP(host) ? { checkServerIdentity: (_h: string, c: tls.PeerCertificate) => tls.checkServerIdentity(cfg.servername!, c) } : {}),
          });
          t.once('secureConnect', () => {
            const c = t.getPeerCertificate();
            conn.tls = {
              protocol: t.getProtocol(),
              cipher: t.getCipher().name,
              peerSubject: c.subject ? Object.entries(c.subject).map(([k, v]) => `${k}=${String(v)}`).join(',') : '',
              peerIssuer: c.issuer ? Object.entries(c.issuer).map(([k, v]) => `${k}=${String(v)}`).join(',') : '',
              validTo: c.valid_to ?? '',
              authorized: t.authorized,
            };
          });
          s = t;
        } else s = net.connect(base);
        s.setNoDelay(true);
        s.on('error', (e) => fail(why(e)));
        conn.socket = s;
        return s;
      };
      const options: IClientOptions = {
        protocolVersion: v5 ? 5 : 4,
        clientId: opts.clientId,
        keepalive: cfg.keepaliveS ?? 2,
        reconnectPeriod: 0,
        connectTimeout: timeoutMs,
        clean: opts.sessionExpiryS === undefined,
        resubscribe: false,
        // Topic aliases replace the ~30-byte topic by two bytes after its first use on a connection.
        ...(v5 ? { properties: { sessionExpiryInterval: opts.sessionExpiryS ?? 0 }, autoUseTopicAlias: true, autoAssignTopicAlias: true } : {}),
        ...(cfg.username !== undefined ? { username: cfg.username } : {}),
        ...(cfg.password !== undefined ? { password: cfg.password } : {}),
        ...(opts.will ? { will: { topic: opts.will.topic, payload: opts.will.payload, qos: 1 as const, retain: opts.will.retain } } : {}),
      };
      const client = new MqttClient(build, options);
      conn.client = client;
      client.on('connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(conn);
      });
      client.on('message', (topic, payload) => opts.onMessage?.(topic, payload));
      // Seen before MQTT.js settles the publish, so publish() can tell "stored for a subscriber" from "accepted, nobody listening".
      client.on('packetreceive', (p) => {
        if (p.cmd === 'puback' && p.reasonCode === NO_MATCHING_SUBSCRIBERS && typeof p.messageId === 'number') conn.unrouted.add(p.messageId);
      });
      client.on('error', (e) => (settled ? conn.kill(why(e)) : fail(why(e))));
      client.on('close', () => (settled ? conn.kill('connection closed') : fail('connection closed before CONNACK (broker down, refused, or TLS rejected)')));
      client.on('disconnect', (p) => conn.kill(`broker sent DISCONNECT (reason ${p.reasonCode ?? 0})`));
    });
  }

  /**
   * Publishes at QoS 1 and resolves on PUBACK with its reason code: 0, or 16 (no matching
   * subscribers: accepted, but nobody got it); MQTT 3.1.1 has no codes and always gives 0.
   * A refusal (>= 0x80) rejects; a missing PUBACK after `timeoutMs` kills the link.
   */
  publish(topic: string, payload: Buffer, opts: Omit<IClientPublishOptions, 'qos'>, timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const client = this.client;
      if (this.dead || !client) {
        reject(new MotobioError('UPLINK_FAILED', `link ${this.link} is down`));
        return;
      }
      let done = false;
      const finish = (err?: string, reasonCode?: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(onDown);
        if (err === undefined) resolve(typeof reasonCode === 'number' ? reasonCode : 0);
        else reject(Object.assign(new MotobioError('UPLINK_FAILED', `link ${this.link}: ${err}`), typeof reasonCode === 'number' ? { reasonCode } : {}));
      };
      const onDown = (reason: string) => finish(`link went down before PUBACK (${reason})`);
      this.pending.add(onDown);
      const timer = setTimeout(() => {
        finish(`no PUBACK within ${timeoutMs} ms`);
        this.kill(`no PUBACK within ${timeoutMs} ms`);
      }, timeoutMs);
      const o = this.protocolVersion === 5 ? opts : { ...opts, properties: undefined };
      client.publish(topic, payload, { ...o, qos: 1 }, (err, packet) => {
        if (err) return finish(`publish refused: ${errorMessage(err)}`, (err as { code?: unknown }).code);
        const id = packet?.messageId;
        finish(undefined, id !== undefined && this.unrouted.delete(id) ? NO_MATCHING_SUBSCRIBERS : 0);
      });
    });
  }

  subscribe(filter: string): Promise<ISubscriptionGrant[]> {
    const client = this.client;
    if (!client || this.dead) return Promise.reject(new MotobioError('UPLINK_FAILED', `link ${this.link} is down`));
    return client.subscribeAsync(filter, { qos: 1 });
  }

  /** Declares the connection dead (once), fails every pending publish and drops the socket. */
  kill(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    for (const p of [...this.pending]) p(reason);
    this.client?.end(true);
    this.socket?.destroy();
    this.emit('down', reason);
  }

  /** Clean goodbye: optional last message (e.g. retained offline status), DISCONNECT, close. */
  async close(last?: { topic: string; payload: Buffer; retain: boolean }): Promise<void> {
    if (this.dead || !this.client) return;
    const client = this.client;
    if (last) {
      await this.publish(last.topic, last.payload, { retain: last.retain }, 2000).catch(() => undefined);
    }
    this.dead = true;
    for (const p of [...this.pending]) p('closing');
    await new Promise<void>((r) => {
      const t = setTimeout(() => {
        client.end(true);
        r();
      }, 2000);
      client.end(false, {}, () => {
        clearTimeout(t);
        r();
      });
    });
    this.socket?.destroy();
  }
}
