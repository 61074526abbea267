/**
 * Child process for crash tests: appends mixed records to an outbox as fast as it can and
 * prints "ok <lastSeq>" after each append returned (i.e. after the durable commit).
 * argv: <dbPath> <deviceId>
 */
import { Outbox } from '../../src/store/outbox.js';
import type { RecordInput } from '../../src/store/types.js';

const [path, deviceId] = process.argv.slice(2);
const box = Outbox.open(path, { deviceId, diskBudgetBytes: 1 << 30 });
let n = 0;
for (;;) {
  const batch: RecordInput[] = [];
  const size = 1 + (n % 7);
  for (let i = 0; i < size; i++) {
    batch.push({ type: 'features', priority: i === 0 && n % 5 === 0 ? 'safety' : 'features', payload: { n, i, hr: 70 + (n % 30) } });
  }
  const r = box.append(batch);
  process.stdout.write(`ok ${r.lastSeq}\n`);
  n++;
}
