/**
 * One EXI body (SD … ED, padded to a byte) at the start of a buffer, and how many bytes it took: what a stream
 * transport needs to cut a byte stream into stanzas (XEP-0322 sends one body per stanza, no length prefix).
 * Each call starts with fresh string tables and grammars; for XEP-0322 `sessionWideBuffers`, use the
 * `decodeBody` of an EXI session (`createExiSession`, session.ts).
 */
import { ExiTruncatedError } from './bits.js';
import { decodeBodyAt } from './session.js';
import { type ExiEvent, type ExiOptions, resolveOptions } from './types.js';

/**
 * Decodes the body at the start of `buf`; undefined when `buf` ends before the body does. `incomplete.needed` is
 * then set to a lower bound of the bytes the body needs (0 when not known; see `ExiTruncatedError.needed`).
 */
export function decodeBody(
  buf: Uint8Array,
  options: ExiOptions,
  incomplete?: { needed: number },
): { events: ExiEvent[]; size: number } | undefined {
  const opts = resolveOptions(options);
  try {
    return decodeBodyAt(buf, opts);
  } catch (err) {
    if (err instanceof ExiTruncatedError) {
      // With compression the reader's buffer is inflated data, not `buf`: no bound.
      if (incomplete) incomplete.needed = opts.compression ? 0 : err.needed;
      return undefined;
    }
    throw err;
  }
}
