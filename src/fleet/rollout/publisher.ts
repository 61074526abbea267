/**
 * The controller's MQTT side: one MQTT 5 connection that publishes signed updates, QoS 1 and
 * retained, to `{prefix}/v1/{device}/cmd/update`, and resolves when the broker acknowledged.
 *
 * Retained, not a persistent session: the units connect with clean sessions (src/uplink), so the
 * broker keeps nothing for an offline unit except a retained message, and a retained message
 * replaces the one before it on the same topic. A unit that comes back gets exactly the newest
 * update meant for it, first thing after it subscribes; an update superseded while it was away
 * (the rollout, replaced by its rollback) is never delivered. It also survives a broker restart
 * (mosquitto persistence) and a unit whose store was wiped.
 */
import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { MotobioError, errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { DEFAULT_TOPIC_PREFIX, commandTopic } from '../../uplink/topics.js';
import type { BrokerOptions } from '../consumer.js';

export interface UpdatePublisher {
  /** Publishes one unit's update (retained, QoS 1); resolves on PUBACK. */
  publish(device: string, payload: Buffer): Promise<void>;
  close(): Promise<void>;
}

export const updateTopic = (device: string, prefix = DEFAULT_TOPIC_PREFIX): string => commandTopic(device, prefix).replace(/#$/, 'update');

const readPem = (what: string, path: string | undefined) => {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new MotobioError('CONFIG_INVALID', `cannot read the broker ${what} file ${path}: ${errorMessage(e)}`);
  }
};

export async function connectPublisher(b: BrokerOptions, o: { clientId: string; log: Logger; prefix?: string; timeoutMs?: number }): Promise<UpdatePublisher> {
  const secure = /^(mqtts|ssl|tls):/.test(b.url);
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId: o.clientId,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 500,
    connectTimeout: 10_000,
    ...(secure ? { ca: readPem('ca', b.ca), cert: readPem('cert', b.cert), key: readPem('key', b.key), rejectUnauthorized: true, ...(b.servername ? { servername: b.servername } : {}) } : {}),
    ...(b.username !== undefined ? { username: b.username } : {}),
    ...(b.password !== undefined ? { password: b.password } : {}),
  };
  const client: MqttClient = connect(b.url, options);
  client.on('error', (e) => o.log.warn({ err: errorMessage(e) }, 'rollout broker connection error'));
  await new Promise<void>((resolve, reject) => {
    const onErr = (e: Error) => {
      client.end(true);
      reject(new MotobioError('UPLINK_FAILED', `fleet rollout cannot connect to ${b.url}: ${errorMessage(e)}; check the URL, the CA and the client certificate (CN fleet-ingest may write …/cmd/#, docs/mosquitto/motobio.acl)`));
    };
    client.once('error', onErr);
    client.once('connect', () => {
      client.off('error', onErr);
      resolve();
    });
  });
  const timeoutMs = o.timeoutMs ?? 30_000;
  return {
    publish: (device, payload) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new MotobioError('UPLINK_FAILED', `no PUBACK for the update to ${device} within ${timeoutMs} ms`)), timeoutMs);
        client.publish(updateTopic(device, o.prefix), payload, { qos: 1, retain: true }, (err, packet) => {
          clearTimeout(t);
          const rc = (packet as { reasonCode?: number } | undefined)?.reasonCode;
          if (err) reject(new MotobioError('UPLINK_FAILED', `publishing the update to ${device} failed: ${errorMessage(err)}`));
          else if (rc !== undefined && rc >= 0x80) reject(new MotobioError('UPLINK_FAILED', `the broker refused the update to ${device} (reason ${rc}; is the client allowed to write …/cmd/#?)`));
          else resolve();
        });
      }),
    close: () => client.endAsync(),
  };
}
