/**
 * Where an EXI body's bits go and come from, shared by the schema-less coders (encoder.ts, decoder.ts) and the
 * schema-informed ones (schema/body.ts): the body continues the header's bit stream (bit-packed,
 * byte-aligned), or, when values are reordered (pre-compression, compression), it is cut into blocks of
 * `blockSize` values, each a structure channel followed by its value channels (§9, channels.ts).
 * The subclasses decide only how a channel's values are written or read.
 */
import { BitReader, BitWriter, ExiError } from './bits.js';
import { blockStreams, ChannelSet, concatBytes, inflateAt, SMALL_CHANNEL_MAX } from './channels.js';
import { DecodeBudget } from './limits.js';
import { isByteAligned, isReordered, type ResolvedOptions } from './types.js';

/** A body being written; `V` is what a value channel holds until its block is closed. */
export abstract class BodyWriter<V> {
  protected finished = false;
  protected w: BitWriter;
  protected readonly reordered: boolean;
  private readonly channels = new ChannelSet<V>();
  private readonly blocks: Uint8Array[] = [];

  /** `headerWriter` holds the header; the body continues in it unless values are reordered. */
  constructor(
    protected readonly opts: ResolvedOptions,
    headerWriter: BitWriter,
  ) {
    this.reordered = isReordered(opts);
    if (this.reordered) {
      this.blocks.push(headerWriter.toBytes());
      this.w = new BitWriter(true);
    } else {
      this.w = headerWriter;
      this.w.byteAligned = isByteAligned(opts);
    }
  }

  /** Writes the values of one channel, in order, into a block's value stream. */
  protected abstract writeChannel(w: BitWriter, values: V[], key: string): void;

  /** A value of a reordered body: kept in its channel until the block is full (§9). */
  protected queue(key: string, value: V): void {
    this.channels.add(key, value);
    if (this.channels.total === this.opts.blockSize) this.closeBlock();
  }

  private closeBlock(): void {
    const structure = this.w.toBytes();
    this.w = new BitWriter(true);
    if (structure.length === 0 && this.channels.total === 0) return;
    this.blocks.push(
      ...blockStreams(structure, this.channels, Boolean(this.opts.compression), (w, values, key) =>
        this.writeChannel(w, values, key),
      ),
    );
    this.channels.clear();
  }

  finish(): Uint8Array {
    if (!this.finished) throw new ExiError('event sequence does not end with ED');
    if (!this.reordered) return this.w.toBytes();
    this.closeBlock();
    return concatBytes(this.blocks);
  }
}

/** A body being read; `P` is what stands for a value whose channel comes after the block's structure. */
export abstract class BodyReader<P> {
  protected r: BitReader;
  protected readonly reordered: boolean;
  private readonly pending = new ChannelSet<P>();
  /** Next unread byte of the body (compression: start of the next DEFLATE stream). */
  private offset: number;
  /** What this body has cost so far, against `opts.limits`. */
  protected readonly budget: DecodeBudget;

  /** `headerReader` is positioned right after the header. */
  constructor(
    protected readonly opts: ResolvedOptions,
    private readonly bytes: Uint8Array,
    headerReader: BitReader,
  ) {
    this.reordered = isReordered(opts);
    this.budget = new DecodeBudget(opts.limits);
    if (isByteAligned(opts)) headerReader.align();
    headerReader.byteAligned = isByteAligned(opts);
    this.offset = headerReader.bytePosition;
    this.r = opts.compression ? this.nextStream(true) : headerReader;
  }

  /** Reads the values of one channel, in order, from a block's value stream. */
  protected abstract readChannel(r: BitReader, items: P[], key: string): void;

  /** A value of a reordered body: read when its block's structure has been decoded (§9). */
  protected queue(key: string, item: P): void {
    this.pending.add(key, item);
    if (this.pending.total === this.opts.blockSize) this.closeBlock(false);
  }

  private nextStream(allowEnd = false): BitReader {
    if (allowEnd && this.offset >= this.bytes.length) return new BitReader(new Uint8Array(0), true);
    const { data, next } = inflateAt(this.bytes, this.offset, this.budget.inflateRoom);
    this.budget.inflatedBytes(data.length);
    this.offset = next;
    return new BitReader(data, true);
  }

  /** Reads the value channels of the block whose structure has just been decoded. */
  protected closeBlock(last: boolean): void {
    const { small, large } = this.pending.ordered();
    const read = (r: BitReader, list: [string, P[]][]) => {
      for (const [key, items] of list) this.readChannel(r, items, key);
    };
    if (!this.opts.compression) {
      read(this.r, small);
      read(this.r, large);
    } else if (this.pending.total <= SMALL_CHANNEL_MAX) {
      read(this.r, small);
    } else {
      if (small.length > 0) read(this.nextStream(), small);
      for (const ch of large) read(this.nextStream(), [ch]);
    }
    this.pending.clear();
    if (!last && this.opts.compression) this.r = this.nextStream(true);
  }

  /** With compression: the end of the body's last DEFLATE stream (after decoding). */
  get compressedEnd(): number {
    return this.offset;
  }
}
