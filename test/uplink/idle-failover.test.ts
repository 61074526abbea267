/**
 * A link that dies while idle (radio gone, no RST: a loopback proxy that stops forwarding and
 * keeps its sockets open) with the field's 30 s keepalive, and a safety record made then: it
 * must reach the server over the other link long before the keepalive would notice. The time
 * itself is a figure for bench/failover.ts, not a timed assertion.
 */
import { describe, expect, it } from 'vitest';
import { safetyOnDeadLink } from '../helpers/idle-link.js';

const KEEPALIVE_S = 30;

describe('a safety record on an idle link that died', () => {
  it('goes out on the other link too while the first is not yet condemned, and is acknowledged there', async () => {
    // A PUBACK timeout longer than the test's patience: only the safety hedge can move the record in time.
    const r = await safetyOnDeadLink({ keepaliveS: KEEPALIVE_S, idleMs: 1000, uplink: { pubackTimeoutMs: 20_000 } });
    console.log(`hedged: at the wifi subscriber after ${Math.round(r.deliveredMs)} ms, PUBACK after ${Math.round(r.ackedMs)} ms`);
    expect(r.lteStillUp).toBe(true);
    expect(r.ackedMs).toBeLessThan(KEEPALIVE_S * 1000);
  }, 120_000);

  it('without the hedge (safetyHedgeMs 0) it waits for the PUBACK timeout to condemn the first link', async () => {
    const r = await safetyOnDeadLink({ keepaliveS: KEEPALIVE_S, idleMs: 1000, uplink: { safetyHedgeMs: 0, pubackTimeoutMs: 3000 } });
    console.log(`timeout only: at the wifi subscriber after ${Math.round(r.deliveredMs)} ms, PUBACK after ${Math.round(r.ackedMs)} ms`);
    expect(r.lteStillUp).toBe(false);
    expect(r.ackedMs).toBeGreaterThanOrEqual(3000);
    expect(r.ackedMs).toBeLessThan(KEEPALIVE_S * 1000);
  }, 120_000);
});
