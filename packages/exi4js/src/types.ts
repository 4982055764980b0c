/** Public types of the EXI codec and the resolution of user options to effective ones. */
import { ExiError, ExiUnsupportedError } from './bits.js';
import type { CompiledSchema } from './schema/xsd.js';

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
export const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/** An EXI event (§4). Prefixes are only meaningful when `preserve.prefixes` is on. */
export type ExiEvent =
  | { type: 'SD' }
  | { type: 'ED' }
  | { type: 'SE'; uri: string; localName: string; prefix?: string }
  | { type: 'EE' }
  | { type: 'AT'; uri: string; localName: string; prefix?: string; value: string }
  | { type: 'NS'; uri: string; prefix: string; localElementNs: boolean }
  | { type: 'CH'; value: string }
  | { type: 'CM'; text: string }
  | { type: 'PI'; target: string; data: string };

/**
 * Undo actions for the string tables and built-in grammars of an EXI session (session.ts): recorded while a
 * body is coded, run in reverse when it fails, dropped when it succeeds.
 */
export type UndoLog = (() => void)[];

export type ExiAlignment = 'bit-packed' | 'byte-alignment' | 'pre-compression' | 'compression';

export interface ExiPreserve {
  prefixes?: boolean;
  comments?: boolean;
  pis?: boolean;
  /** DTD/entity references: accepted in the options, but DT/ER events are unsupported. */
  dtd?: boolean;
  /** No effect in schema-less mode (every value is a string already). */
  lexicalValues?: boolean;
}

/** EXI options (§5.4) plus header/encoder switches. */
export interface ExiOptions {
  alignment?: ExiAlignment;
  /** Same as `alignment: 'compression'`. */
  compression?: boolean;
  strict?: boolean;
  fragment?: boolean;
  selfContained?: boolean;
  preserve?: ExiPreserve;
  /**
   * `null`: explicitly schema-less. A string: schema-informed with the schema of that id, which
   * must be given as `schema` (with that id or none) or in `schemas` (see docs/exi.md). Defaults
   * to `schema.id` when `schema` is given.
   */
  schemaId?: string | null;
  /** A compiled schema (`compileXsd`) for schema-informed encoding/decoding. */
  schema?: CompiledSchema;
  /** Compiled schemas by schemaId, used to resolve the schemaId of a stream's header. */
  schemas?: Readonly<Record<string, CompiledSchema>>;
  blockSize?: number;
  valueMaxLength?: number;
  valuePartitionCapacity?: number;
  /**
   * EXI Profile parameter `localValuePartitions` (W3C "EXI Profile for limiting usage of dynamic memory"):
   * `false` keeps no local value partitions, so a value seen before is always coded as a global hit and memory
   * is bounded by `valuePartitionCapacity`. XEP-0322's default for EXI/XMPP streams. Not an EXI 1.0 option:
   * agreed out of band, never written to a header. Default true (EXI 1.0).
   */
  localValuePartitions?: boolean;
  /**
   * Limits for decoding untrusted streams (docs/exi.md "Untrusted input"); exceeding one throws
   * `ExiLimitError` (`IOT_ERR_EXI_LIMIT`). Never written to a header. Defaults in `DEFAULT_LIMITS`.
   */
  limits?: ExiLimits;
  /** Write the options document into the header (encode). Default false. */
  includeOptions?: boolean;
  /** Start the stream with the `$EXI` cookie (encode). Default false. */
  includeCookie?: boolean;
  /**
   * Encoder only, XML input only: drop whitespace-only character data in element-only
   * content (what a SAX-based encoder such as EXIficient does). Default false.
   */
  dropIgnorableWhitespace?: boolean;
}

/** What one decoded body (or, for the string tables and grammars, one EXI session) may cost at most. */
export interface ExiLimits {
  /**
   * Bytes the DEFLATE streams of one body inflate to (compression), and characters of the decoded document
   * (names, values, text, comments, PIs; a value repeated through the string table counts each time). Checked
   * before inflating or reading further, so memory stays bounded by this, whatever the stream says.
   */
  maxDecodedBytes?: number;
  /** Events (SE, AT, CH, NS, EE, CM, PI) of one body. */
  maxEvents?: number;
  /** Element nesting depth. */
  maxDepth?: number;
  /** URIs, prefixes and local names added to the string tables by the stream (a session's whole life). */
  maxStringTableEntries?: number;
  /** Productions learned by the built-in grammars (a session's whole life). */
  maxLearnedProductions?: number;
}

export const DEFAULT_LIMITS: Readonly<Required<ExiLimits>> = {
  maxDecodedBytes: 16 * 1024 * 1024,
  maxEvents: 200_000,
  maxDepth: 256,
  maxStringTableEntries: 65_536,
  maxLearnedProductions: 65_536,
};

export interface ResolvedOptions {
  alignment: 'bit-packed' | 'byte-alignment' | 'pre-compression';
  compression: boolean;
  strict: boolean;
  fragment: boolean;
  selfContained: boolean;
  preserve: Required<ExiPreserve>;
  schemaId: string | null | undefined;
  /** The schema when schema-informed (schemaId is then its id). */
  schema: CompiledSchema | undefined;
  blockSize: number;
  valueMaxLength: number;
  valuePartitionCapacity: number;
  localValuePartitions: boolean;
  limits: Readonly<Required<ExiLimits>>;
}

export const DEFAULT_BLOCK_SIZE = 1_000_000;

function checkLimit(name: string, v: number): void {
  if (v !== Number.POSITIVE_INFINITY && (!Number.isInteger(v) || v < 0))
    throw new ExiError(`invalid ${name} ${v}`);
}

/**
 * Resolved limits by the object given: callers such as the binding pass the same one with every body (an object
 * is taken as it was when first used).
 */
const resolvedLimits = new WeakMap<ExiLimits, Readonly<Required<ExiLimits>>>();

function resolveLimits(given: ExiLimits): Readonly<Required<ExiLimits>> {
  let limits = resolvedLimits.get(given);
  if (limits) return limits;
  const own: Required<ExiLimits> = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(given) as [keyof ExiLimits, number | undefined][]) {
    if (v === undefined) continue;
    if (!Object.hasOwn(DEFAULT_LIMITS, k)) throw new ExiError(`unknown EXI limit ${k}`);
    if (v !== Number.POSITIVE_INFINITY && (!Number.isInteger(v) || v < 1))
      throw new ExiError(`invalid ${k} ${v}`);
    own[k] = v;
  }
  limits = own;
  resolvedLimits.set(given, limits);
  return limits;
}

export function resolveOptions(options: ExiOptions = {}): ResolvedOptions {
  // A plain copy first: reading the options from an object made by spread syntax (`{ ...o, schema }`, as
  // callers do per call) costs V8 about 1 µs here, reading them from the copy about 0.1 µs.
  const o: ExiOptions = { ...options };
  const compression = o.compression === true || o.alignment === 'compression';
  if (o.compression === true && o.alignment !== undefined && o.alignment !== 'compression') {
    throw new ExiError(`alignment '${o.alignment}' cannot be combined with compression`);
  }
  const alignment = compression ? 'bit-packed' : (o.alignment ?? 'bit-packed');
  if (alignment !== 'bit-packed' && alignment !== 'byte-alignment' && alignment !== 'pre-compression') {
    throw new ExiError(`unknown alignment '${String(alignment)}'`);
  }
  const blockSize = o.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new ExiError(`invalid blockSize ${blockSize}`);
  const vml = o.valueMaxLength ?? Number.POSITIVE_INFINITY;
  const vpc = o.valuePartitionCapacity ?? Number.POSITIVE_INFINITY;
  checkLimit('valueMaxLength', vml);
  checkLimit('valuePartitionCapacity', vpc);
  const schemaId = o.schemaId === undefined ? o.schema?.id : o.schemaId;
  let schema: CompiledSchema | undefined;
  if (typeof schemaId === 'string') {
    if (o.schema && (o.schema.id === undefined || o.schema.id === schemaId)) schema = o.schema;
    else if (o.schemas && Object.hasOwn(o.schemas, schemaId)) schema = o.schemas[schemaId];
    if (!schema) {
      throw new ExiUnsupportedError(
        `schema-informed grammars (schemaId '${schemaId}': unknown schema, give it in options.schemas)`,
      );
    }
  } else if (schemaId === undefined) {
    schema = o.schema; // schema given out of band, or none
  }
  const limits = o.limits === undefined ? DEFAULT_LIMITS : resolveLimits(o.limits);
  const p = o.preserve ?? {};
  return {
    alignment,
    compression,
    strict: o.strict ?? false,
    fragment: o.fragment ?? false,
    selfContained: o.selfContained ?? false,
    preserve: {
      prefixes: p.prefixes ?? false,
      comments: p.comments ?? false,
      pis: p.pis ?? false,
      dtd: p.dtd ?? false,
      lexicalValues: p.lexicalValues ?? false,
    },
    schemaId,
    schema,
    blockSize,
    valueMaxLength: vml,
    valuePartitionCapacity: vpc,
    localValuePartitions: o.localValuePartitions ?? true,
    limits,
  };
}

/** Whether values go to separate channels (pre-compression and compression, §9). */
export function isReordered(o: ResolvedOptions): boolean {
  return o.compression || o.alignment === 'pre-compression';
}

/** Whether the body uses the byte-aligned representation. */
export function isByteAligned(o: ResolvedOptions): boolean {
  return o.compression || o.alignment !== 'bit-packed';
}
