/**
 * What decoding one body may cost (docs/exi.md "Untrusted input"). EXI is a compact coding: a few bits can stand
 * for an element learned earlier, a compact id for a long value seen before, a DEFLATE stream for a thousand
 * times its size. A decoder fed by a peer therefore counts what it produces, and stops with `ExiLimitError`
 * before the next step would go past a limit, not after.
 */
import { type BitReader, ExiLimitError } from './bits.js';
import { checkComment, checkPi } from './names.js';
import type { ExiEvent, ExiLimits } from './types.js';

export class DecodeBudget {
  private chars = 0;
  private inflated = 0;
  private events = 0;
  private readonly maxChars: number;
  private readonly maxEvents: number;
  readonly maxDepth: number;

  constructor(readonly limits: Readonly<Required<ExiLimits>>) {
    this.maxChars = limits.maxDecodedBytes;
    this.maxEvents = limits.maxEvents;
    this.maxDepth = limits.maxDepth;
  }

  /** One more event; `chars`: the characters it brings (name, value, text). */
  event(chars: number): void {
    if (++this.events > this.maxEvents)
      throw new ExiLimitError('maxEvents', `more than ${this.maxEvents} events in one body`);
    this.text(chars);
  }

  /** Characters of a name or value, counted before it is read where its length is declared. */
  text(chars: number): void {
    this.chars += chars;
    if (this.chars > this.maxChars) {
      throw new ExiLimitError('maxDecodedBytes', `more than ${this.maxChars} decoded characters in one body`);
    }
  }

  /** Throws unless `chars` more characters would stay within the limit (a declared length, before reading). */
  room(chars: number): void {
    if (this.chars + chars > this.maxChars) {
      throw new ExiLimitError(
        'maxDecodedBytes',
        `a string of ${chars} characters goes past ${this.maxChars}`,
      );
    }
  }

  /** An element opened at `depth` (1 for the root). */
  depth(depth: number): void {
    if (depth > this.maxDepth)
      throw new ExiLimitError('maxDepth', `elements nested deeper than ${this.maxDepth}`);
  }

  /** How many bytes the next DEFLATE stream of the body may inflate to. */
  get inflateRoom(): number {
    return this.maxChars - this.inflated;
  }

  inflatedBytes(n: number): void {
    this.inflated += n;
  }
}

/** A CM or PI event (their strings are not in the string tables), checked to be writable as XML. */
export function readCommentOrPi(
  r: BitReader,
  kind: 'CM' | 'PI',
  budget: DecodeBudget,
): Extract<ExiEvent, { type: 'CM' | 'PI' }> {
  const readString = () => {
    const length = r.readUnsigned();
    budget.room(length);
    return r.readCodePoints(length);
  };
  if (kind === 'CM') {
    const text = readString();
    checkComment(text);
    budget.event(text.length);
    return { type: 'CM', text };
  }
  const target = readString();
  const data = readString();
  checkPi(target, data);
  budget.event(target.length + data.length);
  return { type: 'PI', target, data };
}
