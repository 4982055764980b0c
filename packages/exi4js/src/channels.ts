/**
 * Channels and blocks for pre-compression and compression (§9).
 *
 * In these modes the body is split into blocks of `blockSize` values. Each block holds the
 * structure channel (all events, without AT/CH values) followed by one value channel per
 * qualified name (AT: the attribute's name, CH: the enclosing element's name). Value channels
 * with at most 100 values come first, in the order of their first value in the block, followed
 * by the larger channels in the same order. With compression, a block with at most 100 values
 * is one DEFLATE stream; otherwise the structure channel, the small channels together and each
 * large channel are separate DEFLATE streams. String-table lookups for values happen in channel
 * order, which is the order the decoder reads them.
 */
import { kMaxLength } from 'node:buffer';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { BitWriter, ExiError, ExiLimitError, ExiTruncatedError } from './bits.js';

export const SMALL_CHANNEL_MAX = 100;

/** Values (or placeholders) of one block, grouped by channel key in first-occurrence order. */
export class ChannelSet<T> {
  readonly channels = new Map<string, T[]>();
  total = 0;

  add(key: string, item: T): void {
    let list = this.channels.get(key);
    if (!list) {
      list = [];
      this.channels.set(key, list);
    }
    list.push(item);
    this.total++;
  }

  /** Channels in stream order: small ones first, then large ones. */
  ordered(): { small: [string, T[]][]; large: [string, T[]][] } {
    const small: [string, T[]][] = [];
    const large: [string, T[]][] = [];
    for (const entry of this.channels) (entry[1].length <= SMALL_CHANNEL_MAX ? small : large).push(entry);
    return { small, large };
  }

  clear(): void {
    this.channels.clear();
    this.total = 0;
  }
}

/** The header and blocks of a (pre-)compressed stream as one byte array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const b of parts) size += b.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const b of parts) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

export function deflate(data: Uint8Array): Uint8Array {
  return deflateRawSync(data);
}

/**
 * Inflates the raw DEFLATE stream starting at `offset`; returns its data and where it ended. `maxOutput`: the
 * most bytes it may inflate to. zlib stops as soon as its output passes that (`maxOutputLength`), so a stream
 * that would inflate to gigabytes costs `maxOutput` bytes of memory and the time to make them, not more.
 */
export function inflateAt(
  bytes: Uint8Array,
  offset: number,
  maxOutput = kMaxLength,
): { data: Uint8Array; next: number } {
  if (offset >= bytes.length) throw new ExiTruncatedError('EXI stream truncated: missing compressed stream');
  const maxOutputLength = Math.max(1, Math.min(maxOutput, kMaxLength));
  let res: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    res = inflateRawSync(bytes.subarray(offset), { info: true, maxOutputLength }) as unknown as typeof res;
  } catch (e) {
    const code = (e as { code?: string }).code;
    // The stream goes on past the end of the data: more bytes may follow on a socket.
    if (code === 'Z_BUF_ERROR') throw new ExiTruncatedError(`EXI stream truncated: ${(e as Error).message}`);
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ExiLimitError('maxDecodedBytes', `a DEFLATE stream inflates to more than ${maxOutput} bytes`);
    }
    throw new ExiError(`invalid DEFLATE stream in EXI body: ${(e as Error).message}`);
  }
  if (res.buffer.byteLength > maxOutput) {
    throw new ExiLimitError('maxDecodedBytes', `a DEFLATE stream inflates to more than ${maxOutput} bytes`);
  }
  const data = new Uint8Array(res.buffer.buffer, res.buffer.byteOffset, res.buffer.byteLength);
  return { data, next: offset + res.engine.bytesWritten };
}

/**
 * The byte streams of one closed block (§9.3): the structure channel, then the value channels (small ones first),
 * laid out as the alignment requires. `writeValues` writes one channel's values; both coders (schema-less and
 * schema-informed) share this layout and differ only in how a value is written.
 */
export function blockStreams<T>(
  structure: Uint8Array,
  channels: ChannelSet<T>,
  compression: boolean,
  writeValues: (w: BitWriter, values: T[], key: string) => void,
): Uint8Array[] {
  const { small, large } = channels.ordered();
  const write = (list: [string, T[]][], into = new BitWriter(true)) => {
    for (const [key, values] of list) writeValues(into, values, key);
    return into;
  };
  if (!compression) {
    const w = write(small);
    write(large, w);
    return [structure, w.toBytes()];
  }
  if (channels.total <= SMALL_CHANNEL_MAX) {
    const w = new BitWriter(true);
    w.writeBytes(structure);
    return [deflate(write(small, w).toBytes())];
  }
  const streams = [deflate(structure)];
  if (small.length > 0) streams.push(deflate(write(small).toBytes()));
  for (const ch of large) streams.push(deflate(write([ch]).toBytes()));
  return streams;
}
