/**
 * EXI header (§5): optional `$EXI` cookie, distinguishing bits `10`, options presence bit,
 * format version, optional EXI Options document and padding.
 *
 * The options document (§5.4) is an EXI body encoded with the options schema of Appendix C in
 * schema-informed, strict, bit-packed mode. Rather than implementing schema-informed grammars in
 * general, the grammar for that one small schema is written out by hand below. Event codes in a
 * strict schema-informed grammar are the positions of the productions in the state, so a
 * sequence of optional child elements c0..c(n-1) in state s (next allowed child s) gives child i
 * the code i - s and EE the code n - s, in ceil(log2(n - s + 1)) bits.
 */
import { type BitReader, type BitWriter, bitsFor, ExiError, ExiUnsupportedError } from './bits.js';
import { DEFAULT_BLOCK_SIZE, type ExiOptions, isByteAligned, type ResolvedOptions } from './types.js';

const COOKIE = [0x24, 0x45, 0x58, 0x49]; // "$EXI"

export interface HeaderInfo {
  cookie: boolean;
  /** Options found in the header, if the presence bit was set. */
  options?: ExiOptions;
}

export function writeHeader(
  w: BitWriter,
  opts: ResolvedOptions,
  includeOptions: boolean,
  includeCookie: boolean,
): void {
  if (includeOptions && !opts.localValuePartitions) {
    // The EXI Profile writes its parameters as an xsi:type'd element in the options document: not done here.
    throw new ExiUnsupportedError(
      'localValuePartitions=false in the options document (EXI Profile parameters)',
    );
  }
  if (includeCookie) w.writeBytes(Uint8Array.from(COOKIE));
  w.writeBits(0b10, 2); // distinguishing bits
  w.writeBits(includeOptions ? 1 : 0, 1); // presence bit
  w.writeBits(0, 1); // final (not preview) version
  w.writeBits(0, 4); // version 1
  if (includeOptions) writeOptionsDocument(w, opts);
  if (isByteAligned(opts)) w.align();
}

/** Reads the header; leaves the reader after the header (not yet padded: see `padAfterHeader`). */
export function readHeader(r: BitReader, bytes: Uint8Array): HeaderInfo {
  let cookie = false;
  if (bytes[0] === 0x24) {
    if (bytes[1] !== COOKIE[1] || bytes[2] !== COOKIE[2] || bytes[3] !== COOKIE[3]) {
      throw new ExiError('not an EXI stream: bad EXI cookie');
    }
    r.readBits(32);
    cookie = true;
  }
  if (r.readBits(2) !== 0b10) throw new ExiError('not an EXI stream: distinguishing bits are not 10');
  const present = r.readBits(1) === 1;
  if (r.readBits(1) === 1) throw new ExiUnsupportedError('preview versions of EXI');
  let version = 1;
  for (;;) {
    const chunk = r.readBits(4);
    version += chunk;
    if (chunk !== 15) break;
  }
  if (version !== 1) throw new ExiUnsupportedError(`EXI format version ${version}`);
  return present ? { cookie, options: readOptionsDocument(r) } : { cookie };
}

// ---------------------------------------------------------------------------------------------
// Options document writer

function code(w: BitWriter, value: number, count: number): void {
  w.writeBits(value, bitsFor(count));
}

/** Writes a sequence of optional children; `present[i]` says whether child i is written. */
function sequence(
  w: BitWriter,
  present: boolean[],
  writeChild: (i: number) => void,
  wildcardAtStart = false,
): void {
  const n = present.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    if (!present[i]) continue;
    code(w, i - s, n - s + 1 + (wildcardAtStart && s === 0 ? 1 : 0));
    writeChild(i);
    s = i + 1;
  }
  code(w, n - s + (wildcardAtStart && s === 0 ? 1 : 0), n - s + 1 + (wildcardAtStart && s === 0 ? 1 : 0));
}

function writeOptionsDocument(w: BitWriter, o: ResolvedOptions): void {
  const alignmentElement = !o.compression && o.alignment !== 'bit-packed';
  const uncommon = [
    alignmentElement,
    o.selfContained,
    Number.isFinite(o.valueMaxLength),
    Number.isFinite(o.valuePartitionCapacity),
    false, // datatypeRepresentationMap
  ];
  const p = o.preserve;
  const preserve = [p.dtd, p.prefixes, p.lexicalValues, p.comments, p.pis];
  const lesscommon = [uncommon.some(Boolean), preserve.some(Boolean), o.blockSize !== DEFAULT_BLOCK_SIZE];
  const common = [o.compression, o.fragment, o.schemaId !== undefined];
  const header = [lesscommon.some(Boolean), common.some(Boolean), o.strict];

  code(w, 0, 2); // DocContent: SE(header) 0, SE(*) 1
  sequence(w, header, (h) => {
    if (h === 0) {
      sequence(w, lesscommon, (l) => {
        if (l === 0) {
          sequence(
            w,
            uncommon,
            (u) => {
              if (u === 0) {
                code(w, o.alignment === 'byte-alignment' ? 0 : 1, 2); // choice: byte | pre-compress
                // the chosen empty element has only EE (0 bits); alignment's end: EE (0 bits)
              } else if (u === 2) {
                w.writeUnsigned(o.valueMaxLength);
              } else if (u === 3) {
                w.writeUnsigned(o.valuePartitionCapacity);
              }
            },
            true,
          );
        } else if (l === 1) {
          sequence(w, preserve, () => {});
        } else {
          w.writeUnsigned(o.blockSize);
        }
      });
    } else if (h === 1) {
      sequence(w, common, (c) => {
        if (c === 2) {
          if (o.schemaId === null) {
            code(w, 1, 2); // AT(xsi:nil) (CH is 0)
            w.writeBits(1, 1); // boolean true; nilled element: only EE (0 bits)
          } else {
            code(w, 0, 2); // CH
            const s = o.schemaId ?? '';
            w.writeUnsigned([...s].length + 2); // string table miss
            w.writeCodePoints(s);
          }
        }
      });
    }
  });
  // DocEnd: ED only (0 bits)
}

// ---------------------------------------------------------------------------------------------
// Options document reader

function readSequence(
  r: BitReader,
  n: number,
  readChild: (i: number) => void,
  wildcardAtStart = false,
  names: string[] = [],
): void {
  let s = 0;
  for (;;) {
    const extra = wildcardAtStart && s === 0 ? 1 : 0;
    const count = n - s + 1 + extra;
    const c = r.readBits(bitsFor(count));
    if (c >= count) throw new ExiError('invalid event code in EXI options document');
    if (c === count - 1) return; // EE
    if (extra && c === n - s)
      throw new ExiUnsupportedError('user-defined metadata in the EXI options document');
    const i = s + c;
    if (i >= n) throw new ExiError('invalid event code in EXI options document');
    if (names[i] === 'datatypeRepresentationMap') throw new ExiUnsupportedError('datatypeRepresentationMap');
    readChild(i);
    s = i + 1;
  }
}

function readOptionsDocument(r: BitReader): ExiOptions {
  const o: ExiOptions = {};
  const preserve: NonNullable<ExiOptions['preserve']> = {};
  if (r.readBits(1) !== 0) throw new ExiError('EXI options document does not start with <header>');
  readSequence(r, 3, (h) => {
    if (h === 0) {
      readSequence(r, 3, (l) => {
        if (l === 0) {
          readSequence(
            r,
            5,
            (u) => {
              if (u === 0) o.alignment = r.readBits(1) === 0 ? 'byte-alignment' : 'pre-compression';
              else if (u === 1) o.selfContained = true;
              else if (u === 2) o.valueMaxLength = r.readUnsigned();
              else if (u === 3) o.valuePartitionCapacity = r.readUnsigned();
            },
            true,
            [
              'alignment',
              'selfContained',
              'valueMaxLength',
              'valuePartitionCapacity',
              'datatypeRepresentationMap',
            ],
          );
        } else if (l === 1) {
          const keys = ['dtd', 'prefixes', 'lexicalValues', 'comments', 'pis'] as const;
          readSequence(r, 5, (p) => {
            preserve[keys[p] as (typeof keys)[number]] = true;
          });
          o.preserve = preserve;
        } else {
          o.blockSize = r.readUnsigned();
        }
      });
    } else if (h === 1) {
      readSequence(r, 3, (c) => {
        if (c === 0) o.compression = true;
        else if (c === 1) o.fragment = true;
        else if (r.readBits(1) === 1) {
          // AT(xsi:nil): boolean value
          if (r.readBits(1) !== 1) throw new ExiUnsupportedError('xsi:nil="false" on schemaId');
          o.schemaId = null;
        } else {
          const u = r.readUnsigned();
          if (u < 2) throw new ExiError('invalid schemaId value in EXI options document');
          o.schemaId = r.readCodePoints(u - 2);
        }
      });
    } else {
      o.strict = true;
    }
  });
  if (o.compression && o.alignment !== undefined) {
    throw new ExiError('EXI options document sets both compression and alignment');
  }
  return o;
}
