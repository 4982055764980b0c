/**
 * GPS receivers speaking NMEA 0183 (u-blox NEO-6M/7M/M8N and most others; UART 9600 8N1 by default).
 * Reads GGA (position, altitude, fix quality, satellites) and RMC (speed, validity) from any talker (GP, GN,
 * GL, GA, BD); every sentence must carry a valid `*XX` checksum. One reading per GGA, with the speed of the
 * latest RMC when it is at most a second older; a receiver that sends no GGA (two RMCs in a row) gets one
 * reading per RMC.
 */
import { FrameError } from '../src/core/errors.js';
import { createLineSplitter, frameErrorsField, nmeaChecksum, serialStreamSource } from '../src/sdk/frames.js';
import { defineDevice, v, type Values } from '../src/sdk/index.js';

const options = v.strictObject({
  port: v.optional(v.pipe(v.string(), v.minLength(1)), '/dev/serial0'),
  baudRate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 9600),
});

const KNOT_KMH = 1.852;

/** Splits a checked sentence into its fields (talker+type first); throws on a missing or wrong checksum. */
export function parseNmeaSentence(line: string): string[] {
  const m = /^\$([^*$]+)\*([0-9A-Fa-f]{2})$/.exec(line.trim());
  if (!m) throw new FrameError(`not an NMEA sentence: ${JSON.stringify(line.slice(0, 40))}`);
  const [, body, sum] = m as unknown as [string, string, string];
  if (nmeaChecksum(body) !== sum.toUpperCase())
    throw new FrameError(`NMEA checksum mismatch: ${line.slice(0, 12)}…`);
  return body.split(',');
}

/** `ddmm.mmmm` / `dddmm.mmmm` with its hemisphere to signed decimal degrees; undefined when empty. */
export function nmeaDegrees(value: string, hemisphere: string): number | undefined {
  if (value === '') return undefined;
  const dot = value.indexOf('.');
  const degDigits = (dot < 0 ? value.length : dot) - 2;
  const degrees = Number(value.slice(0, degDigits));
  const minutes = Number(value.slice(degDigits));
  if (degDigits < 1 || !Number.isFinite(degrees) || !Number.isFinite(minutes) || minutes >= 60)
    throw new FrameError(`bad NMEA coordinate ${value}`);
  const sign = hemisphere === 'S' || hemisphere === 'W' ? -1 : 1;
  return sign * (degrees + minutes / 60);
}

/** hhmmss(.ss) as seconds of the day; undefined when empty. */
function secondsOfDay(time: string): number | undefined {
  const m = /^(\d{2})(\d{2})(\d{2}(?:\.\d+)?)$/.exec(time);
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
}

const num = (s: string | undefined) => (s === undefined || s === '' ? undefined : Number(s));

/** A decoder for one port: merges RMC speed into the GGA of the same (or the previous) second. */
export function createNmeaDecoder(): (line: string) => Values | undefined {
  let rmc:
    { at: number | undefined; speed: number | undefined; valid: boolean; position: Values } | undefined;
  // RMCs since the last GGA: two in a row mean the receiver sends no GGA, so RMC makes the readings.
  let rmcRun = 0;
  return (line) => {
    const f = parseNmeaSentence(line);
    const type = f[0]?.slice(2);
    if (type === 'GGA') {
      rmcRun = 0;
      const quality = num(f[6]);
      if (quality === undefined || !Number.isInteger(quality))
        throw new FrameError('GGA without a fix quality');
      const at = secondsOfDay(f[1] ?? '');
      const values: Values = { fixQuality: quality, satellites: num(f[7]) };
      if (quality > 0) {
        values.latitude = nmeaDegrees(f[2] ?? '', f[3] ?? '');
        values.longitude = nmeaDegrees(f[4] ?? '', f[5] ?? '');
        values.altitude = num(f[9]);
        const age = at !== undefined && rmc?.at !== undefined ? (at - rmc.at + 86400) % 86400 : undefined;
        if (rmc?.valid && age !== undefined && age <= 1) values.speed = rmc.speed;
      }
      return values;
    }
    if (type === 'RMC') {
      const valid = f[2] === 'A';
      const knots = num(f[7]);
      const position: Values = valid
        ? { latitude: nmeaDegrees(f[3] ?? '', f[4] ?? ''), longitude: nmeaDegrees(f[5] ?? '', f[6] ?? '') }
        : {};
      rmc = {
        at: secondsOfDay(f[1] ?? ''),
        speed: knots === undefined ? undefined : knots * KNOT_KMH,
        valid,
        position,
      };
      if (++rmcRun < 2) return undefined;
      return { fixQuality: valid ? 1 : 0, ...position, ...(valid ? { speed: rmc.speed } : {}) };
    }
    return undefined; // GSA, GSV, VTG, GLL, TXT…: checked, not reported
  };
}

export default defineDevice({
  type: 'nmea_gps',
  description: 'GPS receiver (NMEA 0183 GGA/RMC)',
  options,
  fields: [
    {
      name: 'latitude',
      type: 'numeric',
      unit: '°',
      decimals: 6,
      description: 'Latitude (WGS 84, north positive)',
      optional: true,
    },
    {
      name: 'longitude',
      type: 'numeric',
      unit: '°',
      decimals: 6,
      description: 'Longitude (WGS 84, east positive)',
      optional: true,
    },
    {
      name: 'altitude',
      type: 'numeric',
      unit: 'm',
      decimals: 1,
      description: 'Altitude above mean sea level',
      optional: true,
    },
    {
      name: 'speed',
      type: 'numeric',
      unit: 'km/h',
      decimals: 1,
      description: 'Speed over ground',
      optional: true,
    },
    {
      name: 'fixQuality',
      type: 'int',
      description: 'GGA fix quality (0 none, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 estimated)',
    },
    { name: 'satellites', type: 'int', description: 'Satellites used in the fix', optional: true },
    frameErrorsField,
  ],
  source: serialStreamSource({
    splitter: () => createLineSplitter({ maxLength: 164 }),
    decoder: () => createNmeaDecoder(),
  }),
});
