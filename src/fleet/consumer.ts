/**
 * The broker side of the ingest: one MQTT 5 connection in a shared-subscription group, with
 * manual acknowledgement. MQTT.js calls `customHandleAcks` for each QoS 1 PUBLISH and sends
 * the PUBACK only when we call its callback, and it hands over the next PUBLISH of this
 * connection only after that: so the PUBACK of a message leaves after its rows committed, and
 * a worker that dies before that leaves the message with the broker, which sends it again
 * (to this persistent session when it returns, or to the group).
 *
 *   broker ──PUBLISH(QoS 1)──▶ customHandleAcks ──handler(topic, payload)──▶ store commit
 *      ◀──────PUBACK──────────────── done(null, 0) ◀───────────────────────────────┘
 *
 * A handler that fails is retried with capped backoff (the database is down: hold the message,
 * do not ack it, do not drop it). When the connection is replaced meanwhile, the old message is
 * never acked on the new one (its packet id may name another message there): the broker will
 * send it again.
 */
import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { MotobioError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export interface BrokerOptions {
  /** mqtts://host:port (or mqtt:// on a test loopback). */
  readonly url: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly username?: string;
  readonly password?: string;
}

export interface ConsumerOptions {
  readonly broker: BrokerOptions;
  /** Stable per worker connection: the broker keeps its session (and unacked messages) across a crash. */
  readonly clientId: string;
  /** Subscription filters, e.g. `$share/ingest/motobio/v1/+/data/#`. */
  readonly filters: readonly string[];
  /** Session expiry while the worker is away, s. */
  readonly sessionExpiryS?: number;
  readonly handler: (topic: string, payload: Buffer) => Promise<void>;
  readonly log: Logger;
  /** Backoff between handler retries, ms. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Called on each failed handler attempt (metrics). */
  readonly onHandlerError?: (e: unknown) => void;
}

const readPem = (what: string, path: string | undefined) => {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new MotobioError('CONFIG_INVALID', `cannot read the broker ${what} file ${path}: ${errorMessage(e)}`);
  }
};

export class Consumer {
  private client: MqttClient | undefined;
  private closing = false;
  private inFlight: Promise<void> = Promise.resolve();
  connected = false;
  private everConnected = false;
  reconnects = 0;
  acked = 0;

  private constructor(private readonly opts: ConsumerOptions) {}

  static async start(opts: ConsumerOptions): Promise<Consumer> {
    const c = new Consumer(opts);
    await c.connect();
    return c;
  }

  private async connect(): Promise<void> {
    const b = this.opts.broker;
    const secure = /^(mqtts|ssl|tls):/.test(b.url);
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId: this.opts.clientId,
      clean: false,
      properties: { sessionExpiryInterval: this.opts.sessionExpiryS ?? 24 * 3600 },
      keepalive: 30,
      // Back quickly after a broker restart: see the resubscribe below for why every moment counts.
      reconnectPeriod: 250,
      connectTimeout: 10_000,
      resubscribe: false,
      ...(secure
        ? {
            ca: readPem('ca', b.ca),
            cert: readPem('cert', b.cert),
            key: readPem('key', b.key),
            // Never configurable: an ingest that accepts any broker feeds forged data into the fleet.
            rejectUnauthorized: true,
            ...(b.servername ? { servername: b.servername } : {}),
          }
        : {}),
      ...(b.username !== undefined ? { username: b.username } : {}),
      ...(b.password !== undefined ? { password: b.password } : {}),
      customHandleAcks: (topic, payload, _packet, done) => {
        const stream = client.stream;
        this.inFlight = this.handle(topic, payload).then((ok) => {
          if (!ok || client.stream !== stream || !this.connected) return;
          done(0);
          this.acked++;
        });
      },
    };
    const client = connect(b.url, options);
    this.client = client;
    client.on('error', (e) => this.opts.log.warn({ err: errorMessage(e) }, 'broker connection error'));
    client.on('close', () => {
      if (this.connected) this.opts.log.warn('broker connection lost; reconnecting');
      this.connected = false;
    });
    client.on('connect', (ack) => {
      if (this.everConnected) {
        this.reconnects++;
        this.opts.log.info({ sessionPresent: ack.sessionPresent }, 'broker reconnected');
        // Subscribe again even when the broker says the session is present: mosquitto 2.0
        // restores a persistent session after a restart but not its $share subscriptions
        // (found by test/fleet/kill.test.ts), and until we subscribe the broker answers the
        // units' batches with PUBACK 16 "no matching subscribers" and drops them.
        client.subscribeAsync([...this.opts.filters], { qos: 1 }).catch((e: unknown) => this.opts.log.error({ err: errorMessage(e) }, 'resubscribing after a reconnect failed'));
      }
      this.everConnected = true;
      this.connected = true;
    });
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error) => {
        client.off('connect', onOk);
        client.end(true);
        reject(new MotobioError('UPLINK_FAILED', `fleet ingest cannot connect to ${b.url}: ${errorMessage(e)}; check the URL, the CA and the client certificate (CN fleet-ingest under docs/mosquitto/motobio.acl)`));
      };
      const onOk = () => {
        client.off('error', onErr);
        resolve();
      };
      client.once('connect', onOk);
      client.once('error', onErr);
    });
    const grants = await client.subscribeAsync([...this.opts.filters], { qos: 1 });
    const refused = grants.filter((g) => g.qos !== 1);
    if (refused.length > 0) {
      client.end(true);
      throw new MotobioError('UPLINK_FAILED', `the broker refused ${refused.map((g) => `${g.topic} (reason ${g.qos})`).join(', ')}: the ingest certificate must be allowed to read them (docs/mosquitto/motobio.acl, user fleet-ingest)`);
    }
  }

  /** true: committed, ack it. false: give up on this copy (closing); the broker keeps it. */
  private async handle(topic: string, payload: Buffer): Promise<boolean> {
    let wait = this.opts.retryMinMs ?? 200;
    for (;;) {
      try {
        await this.opts.handler(topic, payload);
        return true;
      } catch (e) {
        this.opts.onHandlerError?.(e);
        if (this.closing) return false;
        this.opts.log.error({ err: errorMessage(e), topic, retryInMs: wait }, 'storing a message failed; holding it unacknowledged and retrying');
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, this.opts.retryMaxMs ?? 10_000);
      }
    }
  }

  /** Finishes the message being stored (acks it if it commits), then disconnects. */
  async close(): Promise<void> {
    const c = this.client;
    if (!c) return;
    this.client = undefined;
    // A message in the middle of its commit finishes and is acked; one waiting to retry is left to the broker.
    this.closing = true;
    await this.inFlight.catch(() => undefined);
    await c.endAsync();
  }
}
