/**
 * Child process for crash tests: a minimal daemon that captures (appends features every few
 * ms and a raw ECG chunk every 50 ms) and uploads at the same time. In `drain` mode it only
 * uploads and exits 0 once the outbox is empty.
 * argv: <dbPath> <mode: run|drain> <linkJson>
 */
import { Outbox } from '../../src/store/outbox.js';
import { Uplink } from '../../src/uplink/uplink.js';
import type { LinkConfig } from '../../src/uplink/link.js';

const [path, mode, linkJson] = process.argv.slice(2);
const link = JSON.parse(linkJson) as LinkConfig;
const outbox = Outbox.open(path, { deviceId: 'bike-1' });
const uplink = new Uplink(outbox, { deviceId: 'bike-1', links: [link], retryMinMs: 50, retryMaxMs: 200, batchMaxAgeMs: { decision: 50, features: 50, status: 50, raw: 100 } });
uplink.on('acked', () => process.stdout.write('acked\n'));
uplink.start();

if (mode === 'drain') {
  const t = setInterval(() => {
    if (outbox.stats().records === 0) {
      clearInterval(t);
      void uplink.stop().then(() => {
        outbox.close();
        process.exit(0);
      });
    }
  }, 50);
} else {
  let n = 0;
  let sample = 0;
  setInterval(() => {
    const batch = [];
    for (let i = 0; i < 3; i++) batch.push({ type: 'features', priority: 'features' as const, payload: { n: n++ } });
    if (n % 30 === 0) batch.push({ type: 'safety', priority: 'safety' as const, payload: { kind: 'test', n } });
    const r = outbox.append(batch);
    process.stdout.write(`ok ${r.lastSeq}\n`);
    uplink.notify();
  }, 5);
  setInterval(() => {
    const mv = new Float64Array(25).map((_, i) => Math.sin((sample + i) / 10));
    outbox.append([{ type: 'ecg', priority: 'raw', ecg: { startSample: sample, fs: 250, lsbUv: 1, mv } }]);
    sample += 25;
  }, 50);
}
