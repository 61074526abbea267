/**
 * What the signed-update process tests share: a server side (an MQTT client that publishes
 * updates on cmd/update and decodes the unit's batches), a supervisor that restarts the real
 * daemon the way systemd's Restart=on-failure would, keys, envelopes and disk snapshots.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { decodeBatch } from '../../src/uplink/codec.js';
import type { Envelope, UpdateKind } from '../../src/update/envelope.js';
import { signUpdate } from '../../src/update/sign.js';
import { spawnNode, waitFor, type Proc } from '../daemon/helpers.js';

export interface WireRecordData {
  readonly seq: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

export class Server {
  readonly records = new Map<number, WireRecordData>();
  private constructor(
    private readonly client: mqtt.MqttClient,
    readonly device: string,
  ) {}

  static async connect(url: string, device: string): Promise<Server> {
    const client = await mqtt.connectAsync(url, { clientId: `server-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, protocolVersion: 4, reconnectPeriod: 200 });
    const s = new Server(client, device);
    client.on('message', (topic, payload) => {
      if (!topic.includes('/data/')) return;
      try {
        for (const r of decodeBatch(payload).header.records) s.records.set(r.seq, { seq: r.seq, type: r.type, data: (r.data ?? {}) as Record<string, unknown> });
      } catch {
        // not a batch
      }
    });
    await client.subscribeAsync(`motobio/v1/${device}/data/#`, { qos: 1 });
    return s;
  }

  publish(payload: Buffer | string, device = this.device): Promise<unknown> {
    return this.client.publishAsync(`motobio/v1/${device}/cmd/update`, typeof payload === 'string' ? Buffer.from(payload) : payload, { qos: 1 });
  }

  updates(): Record<string, unknown>[] {
    return [...this.records.values()].filter((r) => r.type === 'update').map((r) => r.data);
  }

  async waitUpdate(what: string, match: (d: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    return waitFor(`update record: ${what} (have: ${JSON.stringify(this.updates().map((u) => [u['event'], u['kind'], u['version'], u['reason']]))})`, () => this.updates().find(match), timeoutMs, 50);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Restarts the daemon after a failure exit, as systemd's Restart=on-failure does (not after 0 or 78). */
export class Supervisor {
  proc: Proc | undefined;
  readonly exits: (number | string | null)[] = [];
  readonly logs: Record<string, unknown>[] = [];
  private stopped = false;

  constructor(
    private readonly main: string,
    private readonly config: string,
    private readonly cwd: string,
  ) {}

  start(): void {
    const p = spawnNode([this.main, 'run', '--config', this.config], { cwd: this.cwd, env: { MOTOBIO_LOG_LEVEL: 'info' } });
    this.proc = p;
    void p.exited.then(({ code, signal }) => {
      this.logs.push(...p.logs());
      this.exits.push(code ?? signal);
      if (this.stopped || code === 0 || code === 78) return;
      setTimeout(() => {
        if (!this.stopped) this.start();
      }, 200);
    });
  }

  allLogs(): Record<string, unknown>[] {
    return [...this.logs, ...(this.proc?.logs() ?? [])];
  }

  kill9(): void {
    this.proc?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const p = this.proc;
    if (p && p.child.exitCode === null && p.child.signalCode === null) {
      p.kill('SIGTERM');
      await p.exited;
    }
  }
}

export async function getJson(port: number, path: string): Promise<Record<string, unknown>> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return (await r.json()) as Record<string, unknown>;
}

export async function getText(port: number, path: string): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}${path}`)).text();
}

export function updateStatus(status: Record<string, unknown>): Record<string, unknown> {
  const c = (status['components'] as Record<string, { detail?: Record<string, unknown> }>)['update'];
  return c?.detail ?? {};
}

export function envelopeBytes(e: unknown): Buffer {
  return Buffer.from(JSON.stringify(e));
}

export function signed(kind: UpdateKind, version: number, device: string, files: [string, Buffer][], privateKey: KeyObject): Envelope {
  return signUpdate({ kind, version, device, files, privateKey });
}

/** Every file and symlink under `dir` with its mode and content hash: "nothing changed on disk". */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const l = lstatSync(p);
      if (l.isSymbolicLink()) out[p] = `-> ${readlinkSync(p)}`;
      else if (l.isDirectory()) {
        out[p] = `dir ${(l.mode & 0o777).toString(8)}`;
        walk(p);
      } else out[p] = `${(l.mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  if (statSync(dir, { throwIfNoEntry: false })) walk(dir);
  return out;
}

export function logHas(logs: Record<string, unknown>[], reason: string): boolean {
  return logs.some((l) => l['mod'] === 'update' && l['reason'] === reason && typeof l['msg'] === 'string' && (l['msg']).startsWith('update refused'));
}
