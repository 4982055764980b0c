/**
 * One EXI body (SD … ED, padded to a byte) at the start of a buffer, and how many bytes it took: what a stream
 * transport needs to cut a byte stream into stanzas (XEP-0322 sends one body per stanza, no length prefix).
 */
import { BitReader, ExiTruncatedError } from './bits.js';
import { BodyDecoder } from './decoder.js';
import { SchemaBodyDecoder } from './schema/body.js';
import { type ExiEvent, type ExiOptions, resolveOptions } from './types.js';

/** Decodes the body at the start of `buf`; undefined when `buf` ends before the body does. */
export function decodeBody(
  buf: Uint8Array,
  options: ExiOptions,
): { events: ExiEvent[]; size: number } | undefined {
  const opts = resolveOptions(options);
  const r = new BitReader(buf, false, 0);
  try {
    const events = opts.schema
      ? new SchemaBodyDecoder(opts, opts.schema, buf, r).decode()
      : new BodyDecoder(opts, buf, r).decode();
    r.align();
    return { events, size: r.bytePosition };
  } catch (err) {
    if (err instanceof ExiTruncatedError) return undefined;
    throw err;
  }
}
