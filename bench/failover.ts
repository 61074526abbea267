/**
 * Idle-link failover of a safety record: two TLS mosquitto brokers as two links, the
 * preferred one through a loopback proxy that stops forwarding without closing (a radio link
 * gone while idle), the field's 30 s keepalive, a safety record made 1 s after the link died.
 * Prints the time to the other broker's subscriber and to its PUBACK, with the safety hedge
 * (default) and without it (PUBACK timeout only), and what each way of getting there costs
 * in bytes a day. Loopback: a real second link adds its connect time (TCP + TLS 1.3 + CONNECT,
 * 3-4 round trips, 0.2-0.8 s on LTE) to the hedged figure. Printed, never asserted.
 */
import { safetyOnDeadLink } from '../test/helpers/idle-link.js';

const KEEPALIVE_S = 30;
const DAY_S = 86_400;
/** One keepalive round: PINGREQ and PINGRESP (2 B each) in a TLS record (+22 B) and TCP/IPv4 (+52 B), and the pure ACK of the PINGRESP (52 B). */
const PING_ROUND_BYTES = 2 * (2 + 22 + 52) + 52;

export async function run(): Promise<void> {
  const hedged = await safetyOnDeadLink({ keepaliveS: KEEPALIVE_S, idleMs: 1000 });
  const plain = await safetyOnDeadLink({ keepaliveS: KEEPALIVE_S, idleMs: 1000, uplink: { safetyHedgeMs: 0 } });
  console.log(`safety record on an idle link that died (keepalive ${KEEPALIVE_S} s, PUBACK timeout 3 s, loopback brokers):`);
  console.log(`  hedge after 1 s (default): at the other broker's subscriber ${Math.round(hedged.deliveredMs)} ms, PUBACK ${Math.round(hedged.ackedMs)} ms (first link still counted up: ${hedged.lteStillUp})`);
  console.log(`  PUBACK timeout only:       at the other broker's subscriber ${Math.round(plain.deliveredMs)} ms, PUBACK ${Math.round(plain.ackedMs)} ms`);
  console.log(`  keepalive alone would notice after ${1.5 * KEEPALIVE_S} s (1.5 x keepalive)`);
  const perDay = (intervalS: number, links: number) => ((DAY_S / intervalS) * PING_ROUND_BYTES * links) / 1e6;
  console.log('cost in bytes a day (keepalive round = 2 x (2 B MQTT + 22 B TLS + 52 B TCP/IP) + 52 B ACK = ' + `${PING_ROUND_BYTES} B):`);
  console.log(`  hedge: 0 B while idle; per hedged safety event the second link's connect, ${hedged.wifiBytes} B by the uplink's socket count (CONNECT, status, subscription, the copy) plus the TLS handshake (a few kB with the certificate chains)`);
  console.log(`  both links kept up to publish safety on both at once: +${perDay(KEEPALIVE_S, 1).toFixed(2)} MB/day (the second link's ${KEEPALIVE_S} s keepalive)`);
  console.log(`  keepalive shortened to 3 s on the active link instead: +${(perDay(3, 1) - perDay(KEEPALIVE_S, 1)).toFixed(2)} MB/day`);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
