import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter, ExiError, ExiUnsupportedError } from '../src/bits.js';
import { readHeader, writeHeader } from '../src/header.js';
import { decode, encode } from '../src/index.js';
import { type ExiOptions, resolveOptions } from '../src/types.js';

function header(options: ExiOptions, includeOptions: boolean, includeCookie = false): Uint8Array {
  const w = new BitWriter();
  writeHeader(w, resolveOptions(options), includeOptions, includeCookie);
  return w.toBytes();
}

function roundTrip(options: ExiOptions): ExiOptions | undefined {
  const bytes = header(options, true);
  return readHeader(new BitReader(bytes), bytes).options;
}

const bits = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(2).padStart(8, '0')).join('');

describe('EXI header (§5)', () => {
  it('is a single byte 10000000 without options', () => {
    expect([...header({}, false)]).toEqual([0x80]);
  });

  it('starts with the $EXI cookie when asked', () => {
    expect([...header({}, false, true)]).toEqual([0x24, 0x45, 0x58, 0x49, 0x80]);
  });

  it('encodes the default options document as <header/> in 3 bits', () => {
    // presence bit set (0xA0), then SE(header)=0, EE=11 (as produced by EXIficient)
    expect(bits(header({}, true)).slice(0, 11)).toBe('10100000011');
  });

  it('matches the reference bits for preserve.prefixes and value limits', () => {
    expect(bits(header({ preserve: { prefixes: true } }, true)).slice(8, 21)).toBe('0000100111110');
    expect(bits(header({ valueMaxLength: 16, valuePartitionCapacity: 32 }, true)).slice(8, 39)).toBe(
      '0000001000010000000010000011010',
    );
  });

  it('pads the header for byte-aligned and compressed bodies', () => {
    expect([...header({ alignment: 'byte-alignment' }, true)]).toEqual([0xa0, 0x00, 0x4a]);
    expect([...header({ alignment: 'pre-compression' }, true)]).toEqual([0xa0, 0x00, 0xca]);
    expect([...header({ compression: true }, true)]).toEqual([0xa0, 0x25]);
  });

  it('round-trips every supported option through the options document', () => {
    const cases: ExiOptions[] = [
      {},
      { alignment: 'byte-alignment' },
      { alignment: 'pre-compression', blockSize: 7 },
      { compression: true, blockSize: 123456 },
      { strict: true },
      { fragment: true, selfContained: true },
      { preserve: { comments: true, pis: true } },
      { preserve: { dtd: true, prefixes: true, lexicalValues: true, comments: true, pis: true } },
      { valueMaxLength: 0, valuePartitionCapacity: 0 },
      { valueMaxLength: 100000, valuePartitionCapacity: 3, alignment: 'byte-alignment', strict: true },
      { schemaId: null },
    ];
    for (const c of cases) {
      const back = resolveOptions(roundTrip(c));
      expect(back).toEqual(resolveOptions(c));
    }
  });

  it('rejects streams that are not EXI', () => {
    const xml = new TextEncoder().encode('<iq/>');
    expect(() => decode(xml)).toThrow(/distinguishing bits/);
    expect(() => decode(Uint8Array.of(0x24, 0x45, 0x58, 0x00, 0x80))).toThrow(/cookie/);
    expect(() => decode(Uint8Array.of(0x90))).toThrow(ExiUnsupportedError); // preview version
    expect(() => decode(Uint8Array.of(0x81))).toThrow(/version 2/);
  });

  it('reports an unknown schemaId as unsupported instead of guessing', () => {
    expect(() => encode('<a/>', { schemaId: 'xep-0323.xsd' })).toThrow(ExiUnsupportedError);
    // a header whose options document carries schemaId="s"
    const w = new BitWriter();
    w.writeBits(0b1010_0000, 8);
    w.writeBits(0b0_01_10_0, 6); // SE(header), SE(common), SE(schemaId), CH
    w.writeUnsigned(3); // string miss, length 1
    w.writeUnsigned(0x73);
    w.writeBits(1, 1); // header after common: [strict, EE] -> EE
    const bytes = w.toBytes();
    expect(readHeader(new BitReader(bytes), bytes).options).toEqual({ schemaId: 's' });
    expect(() => decode(bytes)).toThrow(ExiUnsupportedError);
    expect(() => decode(bytes)).toThrow(/schema-informed grammars \(schemaId 's': unknown schema/);
    expect(() => decode(Uint8Array.of(0xa0, 0b1000_0000))).toThrow(ExiError); // SE(*) at document level
  });
});
