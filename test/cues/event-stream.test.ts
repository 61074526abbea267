/**
 * The event stream over a real HTTP server and client (node:http + fetch): events arrive in
 * order with ids, ?types= filters, Last-Event-ID replays what was missed, bad requests get a
 * clear status, and a client that stops reading does not make the daemon buffer without bound.
 */
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStream, isLoopback } from '../../src/cues/event-stream.js';
import type { CueDelivery } from '../../src/cues/types.js';
import { silentLogger } from '../../src/util/log.js';
import { waitFor } from '../sources/wait.js';

interface Sse {
  id?: string;
  event?: string;
  data?: string;
}

let servers: Server[] = [];
let streams: EventStream[] = [];
afterEach(async () => {
  for (const s of streams) s.close();
  await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
  servers = [];
  streams = [];
});

async function serve(options: Partial<ConstructorParameters<typeof EventStream>[0]> = {}): Promise<{ stream: EventStream; url: string; port: number }> {
  const stream = new EventStream({ log: silentLogger, ...options });
  const server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] === '/events') stream.handle(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  servers.push(server);
  streams.push(stream);
  const port = (server.address() as AddressInfo).port;
  return { stream, url: `http://127.0.0.1:${port}/events`, port };
}

/** Reads SSE frames from a fetch body until `n` events (not comments) have come. */
async function read(url: string, n: number, headers: Record<string, string> = {}): Promise<{ events: Sse[]; status: number; type: string | null; abort: () => void }> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const events: Sse[] = [];
  if (res.status !== 200 || !res.body) return { events, status: res.status, type: res.headers.get('content-type'), abort: () => ac.abort() };
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  while (events.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const e: Sse = {};
      for (const line of block.split('\n')) {
        const m = /^(id|event|data): (.*)$/.exec(line);
        if (m) e[m[1] as keyof Sse] = m[2];
      }
      if (e.event) events.push(e);
    }
  }
  return { events, status: res.status, type: res.headers.get('content-type'), abort: () => ac.abort() };
}

const delivery: CueDelivery = { decisionSeq: 7, kind: 'safety', name: 'hr_high', state: 'played', startMonoMs: 1000, endMonoMs: 3500, repeat: 1, language: 'es', prompt: 'voice' };

describe('event stream (SSE)', () => {
  it('streams decisions, safety alerts, heart rate and cue deliveries in order with ids', async () => {
    const { stream, url } = await serve();
    const reading = read(url, 4);
    await waitFor(() => stream.clients === 1, 5000, 'the client to connect');
    stream.publish('heart', { monoMs: 10, hrBpm: 72.5, quality: 0.93, leadOff: false });
    stream.publish('decision', { seq: 6, monoMs: 11, name: 'breathing_cue' });
    stream.publish('safety', { seq: 7, monoMs: 12, rule: 'hr_high', value: 190, threshold: 185 });
    stream.publish('cue', delivery);
    const r = await reading;
    r.abort();
    expect(r.type).toMatch(/^text\/event-stream/);
    expect(r.events.map((e) => e.event)).toEqual(['heart', 'decision', 'safety', 'cue']);
    expect(r.events.map((e) => Number(e.id))).toEqual([1, 2, 3, 4]);
    expect(JSON.parse(r.events[3].data!)).toEqual(delivery);
    expect(JSON.parse(r.events[0].data!)).toMatchObject({ hrBpm: 72.5, quality: 0.93 });
  });

  it('filters by ?types= and replays what a reconnecting client missed (Last-Event-ID)', async () => {
    const { stream, url } = await serve({ ringSize: 4 });
    for (let i = 1; i <= 6; i++) stream.publish(i % 2 ? 'decision' : 'cue', i % 2 ? { seq: i, monoMs: i, name: 'none' } : { ...delivery, decisionSeq: i });
    const r = await read(`${url}?types=cue`, 2, { 'last-event-id': '2' });
    r.abort();
    // The ring holds ids 3-6; the cue events among them are 4 and 6.
    expect(r.events.map((e) => [e.event, e.id])).toEqual([['cue', '4'], ['cue', '6']]);
    const lost = await read(url, 1, { 'last-event-id': '1' });
    lost.abort();
    expect(lost.events[0]).toMatchObject({ event: 'lost' });
    expect(JSON.parse(lost.events[0].data!)).toEqual({ from: 2, to: 2 });
  });

  it('answers a bad request clearly', async () => {
    const { url } = await serve({ maxClients: 1 });
    expect((await read(`${url}?types=gps`, 0)).status).toBe(400);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    const first = await read(url, 0);
    const second = await read(url, 0);
    first.abort();
    expect(second.status).toBe(503);
  });

  it('takes loopback peers only (the unit itself)', () => {
    // Tests may target loopback only, so the peer check is tested on the addresses node:http reports.
    for (const a of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['192.0.2.7', '::ffff:192.0.2.7', 'fe80::1', '', undefined]) expect(isLoopback(a)).toBe(false);
  });

  it('cuts off a client that stops reading instead of buffering for it', async () => {
    const { stream, port } = await serve({ maxQueuedBytes: 64 * 1024 });
    // A raw socket that sends the request and never reads the response.
    const socket = connect(port, '127.0.0.1');
    socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    socket.pause();
    await waitFor(() => stream.clients === 1, 5000, 'the client to connect');
    const big = { seq: 1, monoMs: 1, name: 'none', detail: { pad: 'x'.repeat(16 * 1024) } };
    for (let i = 0; i < 400 && stream.clients > 0; i++) {
      stream.publish('decision', big);
      await new Promise((r) => setImmediate(r));
    }
    expect(stream.clients).toBe(0);
    socket.destroy();
  });
});
