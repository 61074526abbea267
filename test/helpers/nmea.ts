/**
 * Writes a synthetic NMEA 0183 log (RMC at 1 Hz: time, fix status, position, speed) from a list of ride segments, for
 * gpsfake. `node dist/test/helpers/nmea.js OUT` writes test/fixtures/ride-synthetic.nmea.
 */
import { writeFileSync } from 'node:fs';

export interface Segment {
  readonly seconds: number;
  /** Ground speed, m/s. */
  readonly speedMps: number;
  /** No fix (RMC status V, GGA quality 0) during the segment. */
  readonly noFix?: boolean;
}

/** The committed fixture: a ride, a red light, more riding, a long stop, a ride with a lost fix. */
export const RIDE_SEGMENTS: readonly Segment[] = [
  // Lead-in: gpsd drops what gpsfake writes before it has opened the pty (about a second).
  { seconds: 100, speedMps: 0 },
  { seconds: 40, speedMps: 14 },
  { seconds: 20, speedMps: 0.2 },
  { seconds: 40, speedMps: 12 },
  { seconds: 80, speedMps: 0.1 },
  { seconds: 20, speedMps: 15 },
  { seconds: 15, speedMps: 15, noFix: true },
  { seconds: 15, speedMps: 15 },
];

function checksum(body: string): string {
  let c = 0;
  for (let i = 0; i < body.length; i++) c ^= body.charCodeAt(i);
  return c.toString(16).toUpperCase().padStart(2, '0');
}

const sentence = (body: string): string => `$${body}*${checksum(body)}`;

function ddmm(deg: number, lonLike: boolean): string {
  const a = Math.abs(deg);
  const d = Math.floor(a);
  const m = (a - d) * 60;
  return `${String(d).padStart(lonLike ? 3 : 2, '0')}${m.toFixed(4).padStart(7, '0')}`;
}

export function rideNmea(segments: readonly Segment[], start = Date.UTC(2026, 5, 1, 9, 0, 0), lat0 = 40.4168, lon0 = -3.7038): string {
  const lines: string[] = [];
  let t = start;
  let lat = lat0;
  const lon = lon0;
  for (const seg of segments) {
    for (let i = 0; i < seg.seconds; i++) {
      const d = new Date(t);
      const hms = `${String(d.getUTCHours()).padStart(2, '0')}${String(d.getUTCMinutes()).padStart(2, '0')}${String(d.getUTCSeconds()).padStart(2, '0')}.00`;
      const dmy = `${String(d.getUTCDate()).padStart(2, '0')}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCFullYear() % 100).padStart(2, '0')}`;
      const la = `${ddmm(lat, false)},${lat >= 0 ? 'N' : 'S'}`;
      const lo = `${ddmm(lon, true)},${lon >= 0 ? 'E' : 'W'}`;
      const knots = (seg.speedMps / 0.514444).toFixed(2);
      if (seg.noFix) {
        lines.push(sentence(`GPRMC,${hms},V,,,,,,,${dmy},,,N`));
      } else {
        lines.push(sentence(`GPRMC,${hms},A,${la},${lo},${knots},0.00,${dmy},,,A`));
      }
      // Northwards at the segment's speed (a degree of latitude is ~111.2 km).
      lat += seg.speedMps / 111_200;
      t += 1000;
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

if (process.argv[1]?.endsWith('nmea.js') && process.argv[2]) {
  writeFileSync(process.argv[2], rideNmea(RIDE_SEGMENTS));
}
