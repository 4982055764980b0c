/**
 * Bit-level I/O for EXI (W3C EXI 1.0 §7.1).
 *
 * Two representations are supported:
 * - bit-packed: n-bit unsigned integers use exactly n bits, most significant bit first;
 * - byte-aligned: every n-bit unsigned integer occupies ceil(n/8) whole bytes, least
 *   significant byte first (used by byte-alignment, pre-compression and compression).
 *
 * Unsigned integers (§7.1.6) are sequences of 7-bit groups, least significant group first,
 * with the high bit of every octet signalling that another octet follows. Strings (§7.1.10)
 * are a length (in code points) followed by the code points as unsigned integers.
 */

/**
 * Stable codes in the style of `IotErrorCode` (src/core/errors.ts); match on the code, not the
 * message. `IOT_ERR_EXI`: malformed EXI stream, malformed XML or an invalid event sequence.
 * `IOT_ERR_EXI_UNSUPPORTED`: valid EXI that this codec does not implement (see docs/exi.md).
 */
import { IotError } from '../core/errors.js';
export type ExiErrorCode = 'IOT_ERR_EXI' | 'IOT_ERR_EXI_UNSUPPORTED';

/** A malformed stream, bad XML or an impossible event order (`IOT_ERR_EXI`). */
export class ExiError extends IotError {
  constructor(message: string, code: ExiErrorCode = 'IOT_ERR_EXI') {
    super(code, message);
  }
}

/** The bytes end before the stream (or body) does: more may follow on a socket. */
export class ExiTruncatedError extends ExiError {
  constructor(message = 'EXI stream truncated: unexpected end of data') {
    super(message);
  }
}

export class ExiUnsupportedError extends ExiError {
  constructor(feature: string) {
    super(`EXI feature not supported: ${feature}`, 'IOT_ERR_EXI_UNSUPPORTED');
  }
}

/** Number of bits needed to represent `count` distinct values: ceil(log2(count)), 0 for count <= 1. */
export function bitsFor(count: number): number {
  return count <= 1 ? 0 : 32 - Math.clz32(count - 1);
}

/** Number of Unicode code points in a JS string. */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

export class BitWriter {
  private buf = new Uint8Array(256);
  private len = 0; // completed bytes
  private acc = 0; // pending bits (MSB-first), fewer than 8
  private accBits = 0;

  constructor(public byteAligned = false) {}

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Total number of bits written so far. */
  get bitLength(): number {
    return this.len * 8 + this.accBits;
  }

  /** Writes the low `n` bits of `value` (0 <= n <= 32), most significant first. */
  writeBits(value: number, n: number): void {
    if (n === 0) return;
    this.ensure(5);
    let left = n;
    while (left > 0) {
      const take = Math.min(left, 8 - this.accBits);
      const shift = left - take;
      const chunk = (shift >= 32 ? Math.floor(value / 2 ** shift) : value >>> shift) & ((1 << take) - 1);
      this.acc = (this.acc << take) | chunk;
      this.accBits += take;
      left -= take;
      if (this.accBits === 8) {
        this.buf[this.len++] = this.acc;
        this.acc = 0;
        this.accBits = 0;
      }
    }
  }

  private writeOctet(b: number): void {
    if (this.accBits === 0) {
      this.ensure(1);
      this.buf[this.len++] = b & 0xff;
    } else {
      this.writeBits(b & 0xff, 8);
    }
  }

  /** n-bit unsigned integer (§7.1.9). */
  writeNBit(value: number, n: number): void {
    if (n === 0) return;
    if (value < 0 || value >= 2 ** n) throw new ExiError(`value ${value} does not fit in ${n} bits`);
    if (this.byteAligned) {
      let v = value;
      for (let i = 0, bytes = Math.ceil(n / 8); i < bytes; i++) {
        this.writeOctet(v % 256);
        v = Math.floor(v / 256);
      }
    } else {
      this.writeBits(value, n);
    }
  }

  writeBoolean(b: boolean): void {
    this.writeNBit(b ? 1 : 0, 1);
  }

  /** Unsigned integer (§7.1.6). */
  writeUnsigned(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new ExiError(`invalid unsigned integer ${value}`);
    let v = value;
    do {
      const low = v % 128;
      v = Math.floor(v / 128);
      this.writeOctet(v > 0 ? low | 0x80 : low);
    } while (v > 0);
  }

  /** Code points of a string, without a length prefix. */
  writeCodePoints(s: string): void {
    for (const ch of s) this.writeUnsigned(ch.codePointAt(0) as number);
  }

  /** String (§7.1.10): length in code points, then the code points. */
  writeString(s: string): void {
    this.writeUnsigned(codePointLength(s));
    this.writeCodePoints(s);
  }

  writeBytes(bytes: Uint8Array): void {
    if (this.accBits !== 0) {
      for (const b of bytes) this.writeBits(b, 8);
      return;
    }
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Pads with zero bits up to the next byte boundary. */
  align(): void {
    if (this.accBits > 0) this.writeBits(0, 8 - this.accBits);
  }

  /** The bytes written so far, padded to a byte boundary. */
  toBytes(): Uint8Array {
    this.align();
    return this.buf.slice(0, this.len);
  }
}

export class BitReader {
  private pos = 0; // byte index
  private bit = 0; // bits consumed in current byte

  constructor(
    private readonly buf: Uint8Array,
    public byteAligned = false,
    start = 0,
  ) {
    this.pos = start;
  }

  /** Current byte offset (rounded down). */
  get bytePosition(): number {
    return this.pos;
  }

  get atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  private truncated(): never {
    throw new ExiTruncatedError();
  }

  readBits(n: number): number {
    let v = 0;
    let left = n;
    while (left > 0) {
      const byte = this.buf[this.pos];
      if (byte === undefined) this.truncated();
      const avail = 8 - this.bit;
      const take = Math.min(left, avail);
      const chunk = (byte >>> (avail - take)) & ((1 << take) - 1);
      v = v * (1 << take) + chunk;
      left -= take;
      this.bit += take;
      if (this.bit === 8) {
        this.bit = 0;
        this.pos++;
      }
    }
    return v;
  }

  private readOctet(): number {
    if (this.bit === 0) {
      const b = this.buf[this.pos++];
      if (b === undefined) this.truncated();
      return b;
    }
    return this.readBits(8);
  }

  readNBit(n: number): number {
    if (n === 0) return 0;
    if (this.byteAligned) {
      let v = 0;
      let mul = 1;
      for (let i = 0, bytes = Math.ceil(n / 8); i < bytes; i++) {
        v += this.readOctet() * mul;
        mul *= 256;
      }
      return v;
    }
    return this.readBits(n);
  }

  readBoolean(): boolean {
    return this.readNBit(1) !== 0;
  }

  readUnsigned(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.readOctet();
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
      if (mul > 2 ** 56) throw new ExiError('unsigned integer too large');
    }
  }

  readCodePoints(length: number): string {
    const parts: number[] = [];
    let out = '';
    for (let i = 0; i < length; i++) {
      const cp = this.readUnsigned();
      if (cp > 0x10ffff) throw new ExiError(`invalid code point ${cp}`);
      parts.push(cp);
      if (parts.length >= 4096) {
        out += String.fromCodePoint(...parts);
        parts.length = 0;
      }
    }
    return out + String.fromCodePoint(...parts);
  }

  readString(): string {
    return this.readCodePoints(this.readUnsigned());
  }

  align(): void {
    if (this.bit !== 0) {
      this.bit = 0;
      this.pos++;
    }
  }
}
