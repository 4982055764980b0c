/**
 * Typed value representations of schema-informed EXI (§7.1): Boolean, Decimal, Float, Integer,
 * Unsigned Integer, n-bit Unsigned Integer, Date-Time and enumerations. Strings go through the
 * string tables (the caller handles them). Values are parsed from, and rendered to, their
 * canonical-ish lexical forms the way EXIficient does (lexical values are not preserved:
 * `21.50` as xs:double becomes `215E-1`).
 *
 * `parse*` functions return undefined for a lexical value the type cannot represent; the
 * encoder then refuses the value (ExiUnsupportedError) instead of writing something else.
 */
import { type BitReader, type BitWriter, bitsFor, ExiError } from '../bits.js';
import type { Datatype, DateTimeVariant } from './xsd.js';

// --- integers ------------------------------------------------------------------------------

function writeUnsignedBig(w: BitWriter, v: bigint): void {
  if (v <= BigInt(Number.MAX_SAFE_INTEGER)) {
    w.writeUnsigned(Number(v));
    return;
  }
  let x = v;
  do {
    const low = Number(x & 0x7fn);
    x >>= 7n;
    w.writeNBit(x > 0n ? low | 0x80 : low, 8);
  } while (x > 0n);
}

function readUnsignedBig(r: BitReader): bigint {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const b = r.readNBit(8);
    v |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return v;
    shift += 7n;
    if (shift > 700n) throw new ExiError('unsigned integer too large');
  }
}

/** Integer (§7.1.5): sign bit, then the magnitude (minus one for negative values). */
function writeInteger(w: BitWriter, v: bigint): void {
  if (v < 0n) {
    w.writeBoolean(true);
    writeUnsignedBig(w, -v - 1n);
  } else {
    w.writeBoolean(false);
    writeUnsignedBig(w, v);
  }
}

function readInteger(r: BitReader): bigint {
  const negative = r.readBoolean();
  const m = readUnsignedBig(r);
  return negative ? -m - 1n : m;
}

const INTEGER_RE = /^[+-]?\d+$/;

function parseInteger(s: string): bigint | undefined {
  const t = s.trim();
  return INTEGER_RE.test(t) ? BigInt(t) : undefined;
}

// --- float (§7.1.4) --------------------------------------------------------------------------

const FLOAT_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const SPECIAL = -(2n ** 14n);
const EXP_MAX = 2n ** 14n - 1n;
const MANTISSA_MAX = 2n ** 63n - 1n;

/** Plain decimals that a double holds exactly (at most 15 digits): parsed without BigInt arithmetic. */
const SHORT_DECIMAL_RE = /^(-?)(\d{1,15})(?:\.(\d{1,15}))?$/;

export function parseFloatValue(s: string): { m: bigint; e: bigint } | undefined {
  const t = s.trim();
  const short = SHORT_DECIMAL_RE.exec(t);
  if (short) {
    const [, sign, int = '', frac = ''] = short;
    if (int.length + frac.length <= 15) {
      let m = Number(int + frac);
      let e = -frac.length;
      if (m === 0) e = 0;
      else
        while (m % 10 === 0) {
          m /= 10;
          e++;
        }
      return { m: BigInt(sign === '-' ? -m : m), e: BigInt(e) };
    }
  }
  if (t === 'INF') return { m: 1n, e: SPECIAL };
  if (t === '-INF') return { m: -1n, e: SPECIAL };
  if (t === 'NaN') return { m: 0n, e: SPECIAL };
  const match = FLOAT_RE.exec(t);
  if (!match) return undefined;
  const [, sign, int = '', frac = '', exp] = match;
  if (int === '' && frac === '') return undefined;
  let m = BigInt(`${int}${frac}` || '0');
  let e = BigInt(exp ?? '0') - BigInt(frac.length);
  if (sign === '-') m = -m;
  // Ranges are checked before normalization, as EXIficient does.
  if (m > MANTISSA_MAX || m < -MANTISSA_MAX - 1n || e > EXP_MAX || e < -EXP_MAX) return undefined;
  if (m === 0n) e = 0n;
  else
    while (m % 10n === 0n) {
      m /= 10n;
      e++;
    }
  return { m, e };
}

function renderFloat(m: bigint, e: bigint): string {
  if (e === SPECIAL) return m === 1n ? 'INF' : m === -1n ? '-INF' : 'NaN';
  return `${m}E${e}`;
}

// --- decimal (§7.1.3) ------------------------------------------------------------------------

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?$/;

function parseDecimal(s: string): { negative: boolean; int: bigint; frac: string } | undefined {
  const match = DECIMAL_RE.exec(s.trim());
  if (!match) return undefined;
  const [, sign, int = '', frac = ''] = match;
  if (int === '' && frac === '') return undefined;
  return { negative: sign === '-', int: BigInt(int || '0'), frac: frac.replace(/0+$/, '') };
}

// --- date-time (§7.1.8) ----------------------------------------------------------------------

const DT_PATTERNS: Record<DateTimeVariant, RegExp> = {
  dateTime: /^(-?\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/,
  date: /^(-?\d{4,})-(\d\d)-(\d\d)(Z|[+-]\d\d:\d\d)?$/,
  time: /^(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/,
  gYear: /^(-?\d{4,})(Z|[+-]\d\d:\d\d)?$/,
  gYearMonth: /^(-?\d{4,})-(\d\d)(Z|[+-]\d\d:\d\d)?$/,
  gMonthDay: /^--(\d\d)-(\d\d)(Z|[+-]\d\d:\d\d)?$/,
  gDay: /^---(\d\d)(Z|[+-]\d\d:\d\d)?$/,
  gMonth: /^--(\d\d)(Z|[+-]\d\d:\d\d)?$/,
};

interface DateTimeParts {
  year?: number;
  month?: number;
  day?: number;
  time?: [number, number, number];
  frac?: string;
  tz?: number; // minutes
}

function parseTz(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (s === 'Z') return 0;
  const sign = s[0] === '-' ? -1 : 1;
  const h = Number(s.slice(1, 3));
  const m = Number(s.slice(4, 6));
  if (h > 14 || m > 59) return Number.NaN;
  return sign * (h * 60 + m);
}

function parseDateTime(variant: DateTimeVariant, s: string): DateTimeParts | undefined {
  const match = DT_PATTERNS[variant].exec(s.trim());
  if (!match) return undefined;
  const g = match.slice(1);
  const n = (i: number) => Number(g[i]);
  let p: DateTimeParts;
  switch (variant) {
    case 'dateTime':
      p = { year: n(0), month: n(1), day: n(2), time: [n(3), n(4), n(5)], frac: g[6], tz: parseTz(g[7]) };
      break;
    case 'date':
      p = { year: n(0), month: n(1), day: n(2), tz: parseTz(g[3]) };
      break;
    case 'time':
      p = { time: [n(0), n(1), n(2)], frac: g[3], tz: parseTz(g[4]) };
      break;
    case 'gYear':
      p = { year: n(0), tz: parseTz(g[1]) };
      break;
    case 'gYearMonth':
      p = { year: n(0), month: n(1), day: 0, tz: parseTz(g[2]) };
      break;
    case 'gMonthDay':
      p = { month: n(0), day: n(1), tz: parseTz(g[2]) };
      break;
    case 'gDay':
      p = { month: 0, day: n(0), tz: parseTz(g[1]) };
      break;
    case 'gMonth':
      p = { month: n(0), day: 0, tz: parseTz(g[1]) };
      break;
  }
  if (p.tz !== undefined && Number.isNaN(p.tz)) return undefined;
  if (p.month !== undefined && (p.month > 12 || p.day === undefined || p.day > 31)) return undefined;
  if (p.time && (p.time[0] > 24 || p.time[1] > 59 || p.time[2] > 60)) return undefined;
  if (p.year !== undefined && !Number.isSafeInteger(p.year)) return undefined;
  return p;
}

function writeDateTime(w: BitWriter, variant: DateTimeVariant, p: DateTimeParts): void {
  if (p.year !== undefined) writeInteger(w, BigInt(p.year - 2000));
  if (p.month !== undefined) w.writeNBit(p.month * 32 + (p.day ?? 0), 9);
  if (p.time) {
    const [h, m, s] = p.time;
    w.writeNBit((h * 64 + m) * 64 + s, 17);
  }
  if (variant === 'dateTime' || variant === 'time') {
    const frac = p.frac?.replace(/0+$/, '');
    if (frac) {
      w.writeBoolean(true);
      writeUnsignedBig(w, BigInt([...frac].reverse().join('')));
    } else {
      w.writeBoolean(false);
    }
  }
  if (p.tz !== undefined) {
    w.writeBoolean(true);
    const h = Math.trunc(p.tz / 60);
    const m = p.tz - h * 60;
    w.writeNBit(h * 64 + m + 896, 11);
  } else {
    w.writeBoolean(false);
  }
}

const pad = (v: number, n: number) => String(v).padStart(n, '0');

function readDateTime(r: BitReader, variant: DateTimeVariant): string {
  const hasYear = ['dateTime', 'date', 'gYear', 'gYearMonth'].includes(variant);
  const hasMonthDay = variant !== 'time' && variant !== 'gYear';
  const hasTime = variant === 'dateTime' || variant === 'time';
  let out = '';
  if (hasYear) {
    const y = Number(readInteger(r)) + 2000;
    out += y < 0 ? `-${pad(-y, 4)}` : pad(y, 4);
  }
  if (hasMonthDay) {
    const md = r.readNBit(9);
    const month = md >> 5;
    const day = md & 31;
    if (variant === 'dateTime' || variant === 'date') out += `-${pad(month, 2)}-${pad(day, 2)}`;
    else if (variant === 'gYearMonth') out += `-${pad(month, 2)}`;
    else if (variant === 'gMonthDay') out += `--${pad(month, 2)}-${pad(day, 2)}`;
    else if (variant === 'gDay') out += `---${pad(day, 2)}`;
    else out += `--${pad(month, 2)}`;
  }
  if (hasTime) {
    const t = r.readNBit(17);
    const s = t % 64;
    const m = Math.floor(t / 64) % 64;
    const h = Math.floor(t / 4096);
    out += `${variant === 'dateTime' ? 'T' : ''}${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}`;
    if (r.readBoolean()) out += `.${[...readUnsignedBig(r).toString()].reverse().join('')}`;
  }
  if (r.readBoolean()) {
    const v = r.readNBit(11) - 896;
    const h = Math.trunc(v / 64);
    const m = v - h * 64;
    if (h === 0 && m === 0) out += 'Z';
    else {
      const total = Math.abs(h * 60 + m);
      out += `${v < 0 ? '-' : '+'}${pad(Math.floor(total / 60), 2)}:${pad(total % 60, 2)}`;
    }
  }
  return out;
}

// --- dispatch ----------------------------------------------------------------------------------

/** A typed value ready to be written, or undefined if `value` is not valid for the type. */
export type PreparedValue = (w: BitWriter) => void;

function outOfRange(v: bigint, b: { min?: bigint; max?: bigint }): boolean {
  return (b.min !== undefined && v < b.min) || (b.max !== undefined && v > b.max);
}

const BOOLEANS: Record<string, boolean> = { true: true, false: false, '1': true, '0': false };

/**
 * Prepares a non-string typed value. Returns undefined when the lexical value is invalid for
 * the datatype (the encoder must not write it typed).
 */
export function prepareTyped(dt: Datatype, value: string): PreparedValue | undefined {
  switch (dt.kind) {
    case 'boolean': {
      const b = BOOLEANS[value.trim()];
      return b === undefined ? undefined : (w) => w.writeBoolean(b);
    }
    // Like EXIficient, the Integer and Unsigned Integer representations accept any value they can
    // represent (xs:int bounds are not enforced); n-bit integers must be in range.
    case 'integer': {
      const v = parseInteger(value);
      return v === undefined ? undefined : (w) => writeInteger(w, v);
    }
    case 'unsigned': {
      const v = parseInteger(value);
      return v === undefined || v < 0n ? undefined : (w) => writeUnsignedBig(w, v);
    }
    case 'nbit': {
      const v = parseInteger(value);
      if (v === undefined || outOfRange(v, dt)) return undefined;
      return (w) => w.writeNBit(Number(v - dt.min), dt.bits);
    }
    case 'float': {
      const f = parseFloatValue(value);
      return f === undefined
        ? undefined
        : (w) => {
            writeInteger(w, f.m);
            writeInteger(w, f.e);
          };
    }
    case 'decimal': {
      const d = parseDecimal(value);
      return d === undefined
        ? undefined
        : (w) => {
            w.writeBoolean(d.negative && (d.int !== 0n || d.frac !== ''));
            writeUnsignedBig(w, d.int);
            writeUnsignedBig(w, BigInt([...d.frac].reverse().join('') || '0'));
          };
    }
    case 'datetime': {
      const p = parseDateTime(dt.variant, value);
      return p === undefined ? undefined : (w) => writeDateTime(w, dt.variant, p);
    }
    case 'enum': {
      const i = dt.values.indexOf(value);
      return i < 0 ? undefined : (w) => w.writeNBit(i, bitsFor(dt.values.length));
    }
    case 'string':
    case 'binary':
      return undefined;
  }
}

/** Reads a non-string typed value and renders it. */
export function readTyped(r: BitReader, dt: Datatype): string {
  switch (dt.kind) {
    case 'boolean':
      return r.readBoolean() ? 'true' : 'false';
    case 'integer':
      return readInteger(r).toString();
    case 'unsigned':
      return readUnsignedBig(r).toString();
    case 'nbit':
      return (BigInt(r.readNBit(dt.bits)) + dt.min).toString();
    case 'float': {
      const m = readInteger(r);
      const e = readInteger(r);
      return renderFloat(m, e);
    }
    case 'decimal': {
      const negative = r.readBoolean();
      const int = readUnsignedBig(r);
      const frac = [...readUnsignedBig(r).toString()].reverse().join('');
      return `${negative ? '-' : ''}${int}.${frac}`;
    }
    case 'datetime':
      return readDateTime(r, dt.variant);
    case 'enum': {
      const i = r.readNBit(bitsFor(dt.values.length));
      const v = dt.values[i];
      if (v === undefined) throw new ExiError(`enumeration index ${i} out of range`);
      return v;
    }
    case 'string':
    case 'binary':
      throw new ExiError(`readTyped called for ${dt.kind}`);
  }
}
