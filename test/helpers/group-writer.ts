/**
 * Child process for the group-commit crash test: the daemon's grouping (GroupCommit over a
 * real Outbox) fed as fast as it can, a decision period every 4 records, a safety record
 * every 23. Prints "committed <lastSeq>" after each commit returned (what the store reports
 * as written) and "safety <seq>" after a safety record's append returned.
 * argv: <dbPath>
 */
import { Outbox } from '../../src/store/outbox.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import type { RecordInput } from '../../src/store/types.js';

const [path] = process.argv.slice(2);
const box = Outbox.open(path, { deviceId: 'bike-1', diskBudgetBytes: 1 << 30 });
let last = 0;
const group = new GroupCommit<RecordInput>({
  write: (items) => {
    const r = box.append(items);
    last = r.lastSeq;
    return r;
  },
  nextSeq: () => box.nextSequence(),
  periods: 3,
  maxWaitMs: 60_000,
  onError: (e) => {
    process.stderr.write(`commit failed: ${String(e)}\n`);
    process.exit(1);
  },
  onCommit: () => process.stdout.write(`committed ${last}\n`),
});
let n = 0;
const step = () => {
  for (let i = 0; i < 20; i++, n++) {
    const safety = n % 23 === 22;
    const seq = group.add({ type: safety ? 'safety' : 'features', priority: safety ? 'safety' : 'features', payload: { n } }, safety);
    if (safety) process.stdout.write(`safety ${seq}\n`);
    if (n % 4 === 3) group.periodDone();
  }
  setImmediate(step);
};
step();
