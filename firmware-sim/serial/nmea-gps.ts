/** A GPS receiver sending an RMC and a GGA sentence per second (see devices/nmea_gps.ts). */
import { type Scenario, type SerialSim, startSerialSim, type WireProtocol } from './sim.js';

export interface GpsValues {
  /** Decimal degrees, north/east positive. */
  latitude: number;
  longitude: number;
  /** m above mean sea level */
  altitude: number;
  /** km/h */
  speed: number;
  /** GGA fix quality: 0 = no fix (no position is sent). */
  fixQuality?: number;
  satellites?: number;
  /** UTC time of the fix (default: now). */
  time?: Date;
}

export function nmeaSentence(body: string): string {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i);
  return `$${body}*${x.toString(16).toUpperCase().padStart(2, '0')}\r\n`;
}

function coordinate(value: number, degDigits: number, hemispheres: [string, string]): [string, string] {
  const abs = Math.abs(value);
  const deg = Math.floor(abs);
  const minutes = (abs - deg) * 60;
  return [
    `${String(deg).padStart(degDigits, '0')}${minutes.toFixed(5).padStart(8, '0')}`,
    value < 0 ? hemispheres[1] : hemispheres[0],
  ];
}

export function encodeGps(values: GpsValues): { rmc: string; gga: string } {
  const t = values.time ?? new Date();
  const hhmmss = `${[t.getUTCHours(), t.getUTCMinutes(), t.getUTCSeconds()].map((n) => String(n).padStart(2, '0')).join('')}.00`;
  const ddmmyy = [t.getUTCDate(), t.getUTCMonth() + 1, t.getUTCFullYear() % 100]
    .map((n) => String(n).padStart(2, '0'))
    .join('');
  const quality = values.fixQuality ?? 1;
  const [lat, ns] = quality > 0 ? coordinate(values.latitude, 2, ['N', 'S']) : ['', ''];
  const [lon, ew] = quality > 0 ? coordinate(values.longitude, 3, ['E', 'W']) : ['', ''];
  const knots = quality > 0 ? (values.speed / 1.852).toFixed(3) : '';
  const rmc = nmeaSentence(
    `GPRMC,${hhmmss},${quality > 0 ? 'A' : 'V'},${lat},${ns},${lon},${ew},${knots},,${ddmmyy},,,A`,
  );
  const alt = quality > 0 ? values.altitude.toFixed(1) : '';
  const gga = nmeaSentence(
    `GPGGA,${hhmmss},${lat},${ns},${lon},${ew},${quality},${String(values.satellites ?? 8).padStart(2, '0')},0.9,${alt},M,46.9,M,,`,
  );
  return { rmc, gga };
}

export const nmeaGpsProtocol: WireProtocol<GpsValues> = {
  encode(values) {
    const { rmc, gga } = encodeGps(values);
    return Buffer.from(rmc + gga, 'latin1');
  },
  corrupt(frame) {
    // Flip the last checksum digit of the GGA sentence (the one that makes the reading).
    const text = Buffer.from(frame).toString('latin1');
    const star = text.lastIndexOf('*');
    const digit = text[star + 2] === '0' ? '1' : '0';
    return Buffer.from(`${text.slice(0, star + 2)}${digit}${text.slice(star + 3)}`, 'latin1');
  },
  garbage: Buffer.from('\xb5b\x01\x07', 'latin1'), // the start of a u-blox UBX packet, as receivers interleave
};

export function startNmeaGpsSim(options: {
  dir: string;
  name?: string;
  scenario: Scenario<GpsValues>;
}): Promise<SerialSim> {
  return startSerialSim(nmeaGpsProtocol, { ...options, defaultIntervalMs: 1000 });
}
