import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter, bitsFor, codePointLength, ExiError } from '../src/bits.js';

const bin = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(2).padStart(8, '0')).join(' ');

describe('bitsFor', () => {
  it('is ceil(log2(n)) with 0 for 0 and 1', () => {
    expect([0, 1, 2, 3, 4, 5, 8, 9, 256, 257].map(bitsFor)).toEqual([0, 0, 1, 2, 2, 3, 3, 4, 8, 9]);
  });
});

describe('BitWriter / BitReader, bit-packed', () => {
  it('packs n-bit integers most significant bit first', () => {
    const w = new BitWriter();
    w.writeNBit(0b10, 2);
    w.writeNBit(0, 1);
    w.writeNBit(0b101, 3);
    w.writeNBit(0b11, 2);
    w.writeNBit(1, 1);
    expect(bin(w.toBytes())).toBe('10010111 10000000');
    const r = new BitReader(w.toBytes());
    expect([r.readNBit(2), r.readNBit(1), r.readNBit(3), r.readNBit(2), r.readNBit(1)]).toEqual([
      2, 0, 5, 3, 1,
    ]);
  });

  it('writes unsigned integers as 7-bit groups, least significant first (§7.1.6)', () => {
    const cases: [number, number[]][] = [
      [0, [0x00]],
      [127, [0x7f]],
      [128, [0x80, 0x01]],
      [300, [0xac, 0x02]],
      [16384, [0x80, 0x80, 0x01]],
    ];
    for (const [v, bytes] of cases) {
      const w = new BitWriter();
      w.writeUnsigned(v);
      expect([...w.toBytes()]).toEqual(bytes);
      expect(new BitReader(Uint8Array.from(bytes)).readUnsigned()).toBe(v);
    }
  });

  it('round-trips large unsigned integers and unaligned octets', () => {
    const values = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 2 ** 40 + 123, Number.MAX_SAFE_INTEGER];
    const w = new BitWriter();
    w.writeBits(1, 3); // misalign everything that follows
    for (const v of values) w.writeUnsigned(v);
    w.writeNBit(2 ** 32 - 1, 32);
    const r = new BitReader(w.toBytes());
    expect(r.readBits(3)).toBe(1);
    for (const v of values) expect(r.readUnsigned()).toBe(v);
    expect(r.readNBit(32)).toBe(2 ** 32 - 1);
  });

  it('encodes strings as code-point length plus code points', () => {
    const s = 'a€😀<';
    expect(codePointLength(s)).toBe(4);
    const w = new BitWriter();
    w.writeBoolean(true);
    w.writeString(s);
    const r = new BitReader(w.toBytes());
    expect(r.readBoolean()).toBe(true);
    expect(r.readString()).toBe(s);
  });

  it('rejects values that do not fit and reports truncated input', () => {
    expect(() => new BitWriter().writeNBit(4, 2)).toThrow(ExiError);
    expect(() => new BitWriter().writeUnsigned(-1)).toThrow(ExiError);
    expect(() => new BitReader(Uint8Array.of(0x80)).readUnsigned()).toThrow(/truncated/);
    expect(() => new BitReader(Uint8Array.of(0xff)).readBits(9)).toThrow(/truncated/);
  });
});

describe('BitWriter / BitReader, byte-aligned', () => {
  it('stores n-bit integers in whole bytes, least significant byte first', () => {
    const w = new BitWriter(true);
    w.writeNBit(1, 1);
    w.writeNBit(0, 0);
    w.writeNBit(0x1234, 13);
    w.writeBoolean(false);
    expect([...w.toBytes()]).toEqual([0x01, 0x34, 0x12, 0x00]);
    const r = new BitReader(w.toBytes(), true);
    expect([r.readNBit(1), r.readNBit(0), r.readNBit(13), r.readBoolean()]).toEqual([1, 0, 0x1234, false]);
  });

  it('pads to the byte boundary with zero bits', () => {
    const w = new BitWriter();
    w.writeBits(0b101, 3);
    w.align();
    expect(w.bitLength).toBe(8);
    w.writeBytes(Uint8Array.of(0xaa));
    expect([...w.toBytes()]).toEqual([0xa0, 0xaa]);
    const r = new BitReader(w.toBytes());
    r.readBits(3);
    r.align();
    expect(r.readBits(8)).toBe(0xaa);
  });
});
