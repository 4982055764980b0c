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
 * Stable codes (the names are those of the xmpp-iot project this codec grew in); match on the code, not
 * the message. `IOT_ERR_EXI`: malformed EXI stream, malformed XML or an invalid event sequence.
 * `IOT_ERR_EXI_UNSUPPORTED`: valid EXI that this codec does not implement (see docs/exi.md).
 * `IOT_ERR_EXI_LIMIT`: a stream that exceeds a decoder limit (docs/exi.md "Untrusted input").
 */
export type ExiErrorCode = 'IOT_ERR_EXI' | 'IOT_ERR_EXI_UNSUPPORTED' | 'IOT_ERR_EXI_LIMIT';

/** A malformed stream, bad XML or an impossible event order (`IOT_ERR_EXI`). */
export class ExiError extends Error {
  readonly code: ExiErrorCode;
  constructor(message: string, code: ExiErrorCode = 'IOT_ERR_EXI') {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The bytes end before the stream (or body) does: more may follow on a socket. */
export class ExiTruncatedError extends ExiError {
  constructor(
    message = 'EXI stream truncated: unexpected end of data',
    /**
     * When known: the reader's buffer must hold at least this many bytes before the read can succeed (a string
     * whose declared length goes past the end). A stream reader waits for that many instead of decoding again
     * with every chunk (src/xmpp/exi-connection.ts).
     */
    readonly needed = 0,
  ) {
    super(message);
  }
}

/** A stream that exceeds one of the decoder's limits (`ExiLimits`): hostile, or the limit is too low. */
export class ExiLimitError extends ExiError {
  constructor(
    /** The option that was exceeded, such as `maxDecodedBytes`. */
    readonly limit: string,
    message: string,
  ) {
    super(`EXI ${limit} exceeded: ${message}`, 'IOT_ERR_EXI_LIMIT');
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

/**
 * Whether a code point is a character of XML 1.0 (production Char: tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD,
 * U+10000-U+10FFFF). EXI strings are XML text (§7.1.10); anything else could not be written out as XML at all,
 * not even as a character reference, so a decoder that let it through would hand out text no XML parser reads.
 */
export function isXmlChar(cp: number): boolean {
  if (cp >= 0x20) return cp < 0xd800 || (cp >= 0xe000 && cp !== 0xfffe && cp !== 0xffff && cp <= 0x10ffff);
  return cp === 0x09 || cp === 0x0a || cp === 0x0d;
}

function notXmlChar(cp: number): never {
  throw new ExiError(`code point ${cp} is not an XML character`);
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

/**
 * Small byte arrays are views into a shared pool: V8 makes a typed array with its own backing store (more
 * than 64 bytes) in about 0.5 µs, a view into an existing ArrayBuffer in a few ns. (Node's Buffer pool does the
 * same; a kept result keeps its pool of POOL_SIZE bytes alive.)
 */
const POOL_SIZE = 16384;
let pool = new ArrayBuffer(POOL_SIZE);
let poolOffset = 0;

/** A zero-filled byte array of `size` bytes. */
function allocBytes(size: number): Uint8Array {
  if (size > POOL_SIZE >>> 3) return new Uint8Array(size);
  if (poolOffset + size > POOL_SIZE) {
    pool = new ArrayBuffer(POOL_SIZE);
    poolOffset = 0;
  }
  const bytes = new Uint8Array(pool, poolOffset, size);
  poolOffset += (size + 7) & ~7;
  return bytes;
}

export class BitWriter {
  private buf = allocBytes(256);
  private len = 0; // completed bytes
  private acc = 0; // pending bits (MSB-first), fewer than 8
  private accBits = 0;

  constructor(public byteAligned = false) {}

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = allocBytes(size);
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
    if (n > 24) {
      // Split: the high n-16 bits, then the low 16 bits.
      this.writeBits(Math.floor(value / 65536) % 2 ** (n - 16), n - 16);
      this.writeBits(value & 0xffff, 16);
      return;
    }
    if (this.len + 4 > this.buf.length) this.ensure(4);
    const buf = this.buf;
    // acc < 2^7 and n <= 24: the shifted accumulator stays below 2^31.
    const acc = (this.acc << n) | (value & ((1 << n) - 1));
    let bits = this.accBits + n;
    while (bits >= 8) {
      bits -= 8;
      buf[this.len++] = acc >>> bits;
    }
    this.acc = acc & ((1 << bits) - 1);
    this.accBits = bits;
  }

  /** One octet at the current bit position; capacity must have been ensured. */
  private octet(b: number): void {
    const bits = this.accBits;
    if (bits === 0) {
      this.buf[this.len++] = b;
      return;
    }
    const acc = (this.acc << 8) | b;
    this.buf[this.len++] = acc >>> bits;
    this.acc = acc & ((1 << bits) - 1);
  }

  /** n-bit unsigned integer (§7.1.9). */
  writeNBit(value: number, n: number): void {
    if (n === 0) return;
    if (value < 0 || (n < 31 ? value >= 1 << n : value >= 2 ** n)) {
      throw new ExiError(`value ${value} does not fit in ${n} bits`);
    }
    if (this.byteAligned) {
      const bytes = (n + 7) >> 3;
      this.ensure(bytes);
      let v = value;
      for (let i = 0; i < bytes; i++) {
        this.octet(v % 256);
        v = Math.floor(v / 256);
      }
    } else {
      this.writeBits(value, n);
    }
  }

  writeBoolean(b: boolean): void {
    if (this.byteAligned) this.writeNBit(b ? 1 : 0, 1);
    else this.writeBits(b ? 1 : 0, 1);
  }

  /** Unsigned integer (§7.1.6). */
  writeUnsigned(value: number): void {
    if (value >= 0 && value <= 0x7fffffff && (value | 0) === value) {
      if (this.len + 5 > this.buf.length) this.ensure(5);
      this.unsigned31(value);
      return;
    }
    if (!Number.isSafeInteger(value) || value < 0) throw new ExiError(`invalid unsigned integer ${value}`);
    this.ensure(8);
    let v = value;
    do {
      const low = v % 128;
      v = Math.floor(v / 128);
      this.octet(v > 0 ? low | 0x80 : low);
    } while (v > 0);
  }

  /** An unsigned integer below 2^31; capacity (5 bytes) must have been ensured. */
  private unsigned31(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.octet((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    this.octet(v);
  }

  /** Code points of a string, without a length prefix. */
  writeCodePoints(s: string): void {
    const n = s.length;
    // At most 3 octets per UTF-16 code unit (a surrogate pair is 2 units and at most 3 octets).
    if (this.len + 3 * n + 1 > this.buf.length) this.ensure(3 * n + 1);
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        this.octet(c);
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      this.unsigned31(c);
    }
  }

  /** String (§7.1.10): length in code points, then the code points. */
  writeString(s: string): void {
    this.writeUnsigned(codePointLength(s));
    this.writeCodePoints(s);
  }

  writeBytes(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    if (this.accBits !== 0) {
      for (let i = 0; i < bytes.length; i++) this.octet(bytes[i] as number);
      return;
    }
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
    const len = this.len;
    const out = allocBytes(len);
    const buf = this.buf;
    if (len <= 256) for (let i = 0; i < len; i++) out[i] = buf[i] as number;
    else out.set(buf.subarray(0, len));
    return out;
  }
}

/** Scratch space for decoding Latin-1 strings, up to LATIN1_MAX code points. */
const LATIN1_MAX = 65536;
let latin1 = Buffer.allocUnsafeSlow(256);

/** Scratch space for decoding strings (UTF-16 code units). */
let scratch = new Uint16Array(256);

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
    const buf = this.buf;
    const pos = this.pos;
    if (n <= 24 && pos + 3 < buf.length) {
      if (n === 0) return 0;
      const word =
        ((buf[pos] as number) << 24) |
        ((buf[pos + 1] as number) << 16) |
        ((buf[pos + 2] as number) << 8) |
        (buf[pos + 3] as number);
      const end = this.bit + n;
      this.pos = pos + (end >> 3);
      this.bit = end & 7;
      return (word << (end - n)) >>> (32 - n);
    }
    let v = 0;
    let left = n;
    while (left > 0) {
      const byte = buf[this.pos];
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
      const b = this.buf[this.pos];
      if (b === undefined) this.truncated();
      this.pos++;
      return b;
    }
    const pos = this.pos;
    const b1 = this.buf[pos + 1];
    if (b1 === undefined) return this.readBits(8);
    this.pos = pos + 1;
    return ((((this.buf[pos] as number) << 8) | b1) >>> (8 - this.bit)) & 0xff;
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
    const b = this.readOctet();
    if (b < 0x80) return b;
    let v = b & 0x7f;
    let mul = 128;
    for (;;) {
      const o = this.readOctet();
      v += (o & 0x7f) * mul;
      if ((o & 0x80) === 0) return v;
      mul *= 128;
      if (mul > 2 ** 56) throw new ExiError('unsigned integer too large');
    }
  }

  readCodePoints(length: number): string {
    if (length === 0) return '';
    // Every code point takes at least one octet: a length past the end is truncated before anything is read.
    if (length > this.buf.length - this.pos) {
      throw new ExiTruncatedError(
        'EXI stream truncated: a string goes past the end of the data',
        this.pos + length,
      );
    }
    if (length <= 12) {
      // Short strings: V8 makes flat strings of these by concatenation, faster than an array.
      let s = '';
      for (let i = 0; i < length; i++) {
        const cp = this.readUnsigned();
        if (!isXmlChar(cp)) notXmlChar(cp);
        s += cp < 0x10000 ? String.fromCharCode(cp) : String.fromCodePoint(cp);
      }
      return s;
    }
    if (length <= LATIN1_MAX) {
      // Latin-1 text (nearly all of it): bytes decoded natively, several times faster than fromCharCode.apply.
      if (latin1.length < length) latin1 = Buffer.allocUnsafeSlow(Math.min(LATIN1_MAX, 2 * length));
      const bytes = latin1;
      for (let i = 0; i < length; i++) {
        const cp = this.readUnsigned();
        if (cp < 0x100) {
          if (cp < 0x20 && cp !== 0x09 && cp !== 0x0a && cp !== 0x0d) notXmlChar(cp);
          bytes[i] = cp;
        } else return bytes.toString('latin1', 0, i) + this.codePointsFrom(cp, length - i - 1);
      }
      return bytes.toString('latin1', 0, length);
    }
    return this.codePointsFrom(this.readUnsigned(), length - 1);
  }

  /** Code point `first`, then `rest` more from the stream. */
  private codePointsFrom(first: number, rest: number): string {
    let out = '';
    let k = 0;
    if (scratch.length < 2 * Math.min(rest + 1, 4096) + 2)
      scratch = new Uint16Array(2 * Math.min(rest + 1, 4096) + 2);
    const units = scratch;
    for (let i = 0; i <= rest; i++) {
      const cp = i === 0 ? first : this.readUnsigned();
      if (!isXmlChar(cp)) notXmlChar(cp);
      if (cp < 0x10000) units[k++] = cp;
      else {
        units[k++] = 0xd800 + ((cp - 0x10000) >> 10);
        units[k++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
      }
      if (k >= 8192) {
        out += String.fromCharCode.apply(null, units.subarray(0, k) as unknown as number[]);
        k = 0;
      }
    }
    return out + String.fromCharCode.apply(null, units.subarray(0, k) as unknown as number[]);
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
