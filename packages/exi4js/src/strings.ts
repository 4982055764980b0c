/**
 * String tables (§7.3): the URI partition, per-URI prefix and local-name partitions, and the
 * global and local (per qualified name) value partitions, with valueMaxLength and
 * valuePartitionCapacity (§7.3.3). Encoder and decoder share the same table; each side only
 * uses its own half of the methods.
 */
import {
  type BitReader,
  type BitWriter,
  bitsFor,
  codePointLength,
  ExiError,
  ExiLimitError,
  isXmlChar,
} from './bits.js';
import type { DecodeBudget } from './limits.js';
import { isNCName, isQName } from './names.js';
import { type ResolvedOptions, type UndoLog, XML_NS, XSI_NS } from './types.js';

/**
 * A URI partition with its prefixes and local names. The initial entries (Appendix D, and a schema's) are
 * built once and shared copy-on-write by every table: `localIndex` holds the initial names and is never
 * changed; names added later follow them in `localNames` (and are in `added` once there are many), and `prefixes`/`localNames` are copied before the first change.
 */
export interface UriEntry {
  readonly uri: string;
  prefixes: string[];
  localNames: string[];
  readonly localIndex: ReadonlyMap<string, number>;
  added: Map<string, number> | undefined;
  /** Whether `prefixes` and `localNames` are still those of a shared template. */
  shared: boolean;
}

const NO_NAMES: ReadonlyMap<string, number> = new Map();

function newEntry(uri: string, prefixes: string[], localNames: string[], shared: boolean): UriEntry {
  const localIndex = localNames.length === 0 ? NO_NAMES : new Map(localNames.map((n, i) => [n, i]));
  return { uri, prefixes, localNames, localIndex, added: undefined, shared };
}

/** Id of a local name in its partition, or undefined. */
function localId(e: UriEntry, name: string): number | undefined {
  const id = e.localIndex.get(name);
  if (id !== undefined) return id;
  if (e.added !== undefined) return e.added.get(name);
  // Few names added: a scan is cheaper than making a map.
  const names = e.localNames;
  for (let i = e.localIndex.size; i < names.length; i++) if (names[i] === name) return i;
  return undefined;
}

/** Names added to a partition before `added` (a map) is made for them. */
const SCAN_MAX = 16;

/** Appends a local name that is not in the partition yet. */
function insertLocal(e: UriEntry, name: string): void {
  own(e);
  const names = e.localNames;
  names.push(name);
  if (e.added !== undefined) e.added.set(name, names.length - 1);
  else if (names.length - e.localIndex.size > SCAN_MAX) {
    e.added = new Map();
    for (let i = e.localIndex.size; i < names.length; i++) e.added.set(names[i] as string, i);
  }
}

/** Makes a partition's arrays its own before changing them. */
function own(e: UriEntry): void {
  if (!e.shared) return;
  e.prefixes = e.prefixes.slice();
  e.localNames = e.localNames.slice();
  e.shared = false;
}

/** Initial partitions shared by many tables (never changed). */
interface Template {
  readonly entries: readonly UriEntry[];
  readonly index: ReadonlyMap<string, number>;
}

function share(t: Template, uris: UriEntry[], index: Map<string, number>): void {
  for (const e of t.entries) {
    uris.push({
      uri: e.uri,
      prefixes: e.prefixes,
      localNames: e.localNames,
      localIndex: e.localIndex,
      added: undefined,
      shared: true,
    });
  }
  for (const [u, i] of t.index) index.set(u, i);
}

/** Appendix D.1 - D.3. */
let baseTemplate: Template | undefined;
function base(): Template {
  if (!baseTemplate) {
    const entries = [
      newEntry('', [''], [], true),
      newEntry(XML_NS, ['xml'], ['base', 'id', 'lang', 'space'], true),
      newEntry(XSI_NS, ['xsi'], ['nil', 'type'], true),
    ];
    baseTemplate = { entries, index: new Map(entries.map((e, i) => [e.uri, i])) };
  }
  return baseTemplate;
}

/** The initial partitions of schema-informed tables, per schema (`CompiledSchema.localNames`). */
const schemaTemplates = new WeakMap<ReadonlyMap<string, ReadonlySet<string>>, Template>();

interface ValueEntry {
  readonly value: string;
  readonly key: string;
  /** -1 without local value partitions. */
  readonly localId: number;
  readonly globalId: number;
}

const XSD_NS = 'http://www.w3.org/2001/XMLSchema';

/** Built-in type names of the XML Schema namespace (Appendix D.3). */
const XSD_TYPE_NAMES = [
  'ENTITIES',
  'ENTITY',
  'ID',
  'IDREF',
  'IDREFS',
  'NCName',
  'NMTOKEN',
  'NMTOKENS',
  'NOTATION',
  'Name',
  'QName',
  'anySimpleType',
  'anyType',
  'anyURI',
  'base64Binary',
  'boolean',
  'byte',
  'date',
  'dateTime',
  'decimal',
  'double',
  'duration',
  'float',
  'gDay',
  'gMonth',
  'gMonthDay',
  'gYear',
  'gYearMonth',
  'hexBinary',
  'int',
  'integer',
  'language',
  'long',
  'negativeInteger',
  'nonNegativeInteger',
  'nonPositiveInteger',
  'normalizedString',
  'positiveInteger',
  'short',
  'string',
  'time',
  'token',
  'unsignedByte',
  'unsignedInt',
  'unsignedLong',
  'unsignedShort',
];

/**
 * Keys made before, by URI and local name: a key is then one string that V8 has flattened and hashed once,
 * instead of a new concatenation to flatten and hash in every map it is looked up in. Bounded.
 */
const keyCache = new Map<string, Map<string, string>>();
let keyCount = 0;
const KEY_CACHE_MAX = 4096;

/** Key of a qualified name, used for element grammars, local value partitions and channels. */
export function qnameKey(uri: string, localName: string): string {
  let byName = keyCache.get(uri);
  if (byName === undefined) {
    if (keyCount >= KEY_CACHE_MAX) {
      keyCache.clear();
      keyCount = 0;
    }
    byName = new Map();
    keyCache.set(uri, byName);
  }
  let key = byName.get(localName);
  if (key === undefined) {
    key = `${localName}\u0000${uri}`;
    if (keyCount < KEY_CACHE_MAX) {
      byName.set(localName, key);
      keyCount++;
    }
  }
  return key;
}

export class StringTables {
  readonly uris: UriEntry[] = [];
  private readonly uriIndex = new Map<string, number>();
  /** Whether the URI partition still holds exactly the shared initial entries of Appendix D. */
  private pristine = true;

  private readonly global: (ValueEntry | undefined)[] = [];
  private readonly globalByValue = new Map<string, ValueEntry>();
  private globalCount = 0;
  private globalId = -1;
  private readonly locals = new Map<string, (ValueEntry | undefined)[]>();
  /**
   * Set by an EXI session (session.ts): every change to the tables records how to undo it, so that a
   * body that fails half-way (truncated, invalid) leaves the session's tables as they were.
   */
  undo: UndoLog | undefined;

  /**
   * Set by a decoder for the body it decodes: declared string lengths are checked against it before the
   * characters are read.
   */
  budget: DecodeBudget | undefined;
  /** Whether an xsi:type value added a `prefix:name` local name, which must not come back as a name. */
  private qnameAdded = false;
  /** URIs, prefixes and local names added since the initial entries, and how many may be (maxStringTableEntries). */
  private added = 0;
  private readonly maxAdded: number;

  private readonly valueMaxLength: number;
  private readonly valuePartitionCapacity: number;
  /** Off (EXI Profile): values go to the global partition only, and every hit is a global hit. */
  private readonly localValuePartitions: boolean;

  constructor(
    limits: Partial<
      Pick<ResolvedOptions, 'valueMaxLength' | 'valuePartitionCapacity' | 'localValuePartitions' | 'limits'>
    > = {},
  ) {
    this.maxAdded = limits.limits?.maxStringTableEntries ?? Number.POSITIVE_INFINITY;
    this.valueMaxLength = limits.valueMaxLength ?? Number.POSITIVE_INFINITY;
    this.valuePartitionCapacity = limits.valuePartitionCapacity ?? Number.POSITIVE_INFINITY;
    this.localValuePartitions = limits.localValuePartitions ?? true;
    // Initial entries (Appendix D.1 - D.3).
    share(base(), this.uris, this.uriIndex);
  }

  /** How many values the tables hold: global entries, and local partition slots (assigned or not). */
  valueCounts(): { global: number; localSlots: number } {
    let localSlots = 0;
    for (const l of this.locals.values()) localSlots += l.length;
    return { global: this.globalCount, localSlots };
  }

  /**
   * Schema-informed initial entries (§7.3.1, Appendix D): the XML Schema namespace with its
   * built-in type names, then the schema's namespaces (sorted), and every partition extended
   * with the local names the schema declares in it (sorted).
   */
  addSchemaEntries(localNames: ReadonlyMap<string, ReadonlySet<string>>): void {
    this.addSchemaEntriesShared(localNames);
    // The schema's entries are not the stream's: only what the stream adds counts against the limit.
    this.added = 0;
  }

  private addSchemaEntriesShared(localNames: ReadonlyMap<string, ReadonlySet<string>>): void {
    if (this.pristine && this.undo === undefined && this.uris.every((e) => e.shared && !e.added)) {
      // The usual case (a fresh table): the schema's initial partitions, built once per schema.
      let t = schemaTemplates.get(localNames);
      if (!t) {
        const built = new StringTables();
        built.addSchemaEntriesTo(localNames);
        const entries = built.uris.map((e) => newEntry(e.uri, e.prefixes, e.localNames, true));
        t = { entries, index: new Map(entries.map((e, i) => [e.uri, i])) };
        schemaTemplates.set(localNames, t);
      }
      this.uris.length = 0;
      this.uriIndex.clear();
      share(t, this.uris, this.uriIndex);
      this.pristine = false;
      return;
    }
    this.addSchemaEntriesTo(localNames);
  }

  private addSchemaEntriesTo(localNames: ReadonlyMap<string, ReadonlySet<string>>): void {
    this.addUri(XSD_NS, [], XSD_TYPE_NAMES);
    for (const uri of [...localNames.keys()].filter((u) => !this.uriIndex.has(u)).sort()) this.addUri(uri);
    for (const [uri, names] of localNames) {
      const e = this.entry(this.uriIndex.get(uri) as number);
      for (const n of [...names].sort()) {
        if (localId(e, n) !== undefined) continue;
        insertLocal(e, n);
      }
    }
  }

  /** One more URI, prefix or local name; undone with the body in a session. */
  private count(): void {
    if (++this.added > this.maxAdded) {
      this.added--;
      throw new ExiLimitError('maxStringTableEntries', `more than ${this.maxAdded} URIs, prefixes and names`);
    }
    this.undo?.push(() => this.added--);
  }

  private addUri(uri: string, prefixes: string[] = [], localNames: string[] = []): number {
    this.count();
    const id = this.uris.length;
    this.uris.push(newEntry(uri, [...prefixes], [...localNames], false));
    this.uriIndex.set(uri, id);
    this.pristine = false;
    this.undo?.push(() => {
      this.uris.pop();
      this.uriIndex.delete(uri);
    });
    return id;
  }

  private entry(uriId: number): UriEntry {
    const e = this.uris[uriId];
    if (!e) throw new ExiError(`URI id ${uriId} out of range`);
    return e;
  }

  // --- URI (§7.3.1 / §7.1.7) ---------------------------------------------------------------

  writeUri(w: BitWriter, uri: string): number {
    const n = bitsFor(this.uris.length + 1);
    const id = this.uriIndex.get(uri);
    if (id !== undefined) {
      w.writeNBit(id + 1, n);
      return id;
    }
    w.writeNBit(0, n);
    w.writeString(uri);
    return this.addUri(uri);
  }

  readUri(r: BitReader): number {
    const v = r.readNBit(bitsFor(this.uris.length + 1));
    if (v === 0) return this.addUri(this.readNewString(r));
    if (v > this.uris.length) throw new ExiError(`URI compact id ${v - 1} out of range`);
    return v - 1;
  }

  /** Id of a URI already in the table (used after learned SE/AT productions). */
  uriId(uri: string): number {
    const id = this.uriIndex.get(uri);
    if (id === undefined) throw new ExiError(`URI '${uri}' is not in the string table`);
    return id;
  }

  uri(uriId: number): string {
    return this.entry(uriId).uri;
  }

  // --- local names --------------------------------------------------------------------------

  writeLocalName(w: BitWriter, uriId: number, name: string): number {
    const e = this.entry(uriId);
    const id = localId(e, name);
    if (id !== undefined) {
      w.writeUnsigned(0);
      w.writeNBit(id, bitsFor(e.localNames.length));
      return id;
    }
    w.writeUnsigned(codePointLength(name) + 1);
    w.writeCodePoints(name);
    this.addLocalName(e, name);
    return e.localNames.length - 1;
  }

  /**
   * `typeName`: the local name of an xsi:type value, which our encoder (and the spec's QName values) may give as
   * `prefix:name` when the prefix is not bound. Names read here may come back later as compact ids, for any
   * name: a hit on one is refused unless it is read as a type name again.
   */
  readLocalName(r: BitReader, uriId: number, typeName = false): string {
    const e = this.entry(uriId);
    const u = r.readUnsigned();
    if (u === 0) {
      const id = r.readNBit(bitsFor(e.localNames.length));
      const name = e.localNames[id];
      if (name === undefined) throw new ExiError(`local-name compact id ${id} out of range`);
      if (this.qnameAdded && !typeName && name.includes(':')) {
        throw new ExiError(`local name '${name.slice(0, 64)}' is not an XML NCName`);
      }
      return name;
    }
    this.budget?.room(u - 1);
    const name = r.readCodePoints(u - 1);
    // A name is written into XML as it is: anything but an NCName could end the tag and start another one.
    if (typeName && !this.qnameAdded && name.includes(':')) this.qnameAdded = true;
    if (!(isNCName(name) || (typeName && isQName(name))))
      throw new ExiError(`local name '${name.slice(0, 64)}' is not an XML NCName`);
    this.addLocalName(e, name);
    return name;
  }

  /** A string literal of the stream (URI, prefix), its declared length checked before it is read. */
  private readNewString(r: BitReader): string {
    const length = r.readUnsigned();
    this.budget?.room(length);
    return r.readCodePoints(length);
  }

  private addLocalName(e: UriEntry, name: string): void {
    this.count();
    insertLocal(e, name);
    this.undo?.push(() => {
      e.localNames.pop();
      e.added?.delete(name);
    });
  }

  // --- prefixes -----------------------------------------------------------------------------

  /** Prefix of an NS event (§7.3.2): hit = id + 1, miss = 0 followed by the string. */
  writeNsPrefix(w: BitWriter, uriId: number, prefix: string): void {
    const e = this.entry(uriId);
    const n = bitsFor(e.prefixes.length + 1);
    const id = e.prefixes.indexOf(prefix);
    if (id >= 0) {
      w.writeNBit(id + 1, n);
      return;
    }
    w.writeNBit(0, n);
    w.writeString(prefix);
    this.addPrefix(e, prefix);
  }

  private addPrefix(e: UriEntry, prefix: string): void {
    this.count();
    own(e);
    e.prefixes.push(prefix);
    this.undo?.push(() => e.prefixes.pop());
  }

  readNsPrefix(r: BitReader, uriId: number): string {
    const e = this.entry(uriId);
    const v = r.readNBit(bitsFor(e.prefixes.length + 1));
    if (v === 0) {
      const p = this.readNewString(r);
      if (p !== '' && !isNCName(p)) throw new ExiError(`prefix '${p.slice(0, 64)}' is not an XML NCName`);
      this.addPrefix(e, p);
      return p;
    }
    const p = e.prefixes[v - 1];
    if (p === undefined) throw new ExiError(`prefix compact id ${v - 1} out of range`);
    return p;
  }

  /** Prefix of an SE/AT qname (§7.1.7): an index into the URI's prefix partition, if it has more than one entry. */
  writeQNamePrefix(w: BitWriter, uriId: number, prefix: string | undefined): void {
    const e = this.entry(uriId);
    const m = e.prefixes.length;
    if (m <= 1) return;
    const id = prefix === undefined ? -1 : e.prefixes.indexOf(prefix);
    w.writeNBit(Math.max(id, 0), bitsFor(m));
  }

  readQNamePrefix(r: BitReader, uriId: number): string | undefined {
    const e = this.entry(uriId);
    const m = e.prefixes.length;
    if (m === 0) return undefined;
    if (m === 1) return e.prefixes[0];
    const id = r.readNBit(bitsFor(m));
    const p = e.prefixes[id];
    if (p === undefined) throw new ExiError(`prefix compact id ${id} out of range`);
    return p;
  }

  // --- values (§7.3.3) ------------------------------------------------------------------------

  /** `charset`: restricted character set of a schema-typed string (§7.1.10.1). */
  writeValue(w: BitWriter, key: string, value: string, charset?: readonly number[]): void {
    const hit = this.globalByValue.get(value);
    if (hit) {
      if (hit.key === key && this.localValuePartitions) {
        w.writeUnsigned(0);
        w.writeNBit(hit.localId, bitsFor(this.locals.get(key)?.length ?? 0));
      } else {
        w.writeUnsigned(1);
        w.writeNBit(hit.globalId, bitsFor(this.globalCount));
      }
      return;
    }
    const length = codePointLength(value);
    w.writeUnsigned(length + 2);
    if (charset) writeRestricted(w, value, charset);
    else w.writeCodePoints(value);
    this.addValue(key, value, length);
  }

  readValue(r: BitReader, key: string, charset?: readonly number[]): string {
    const u = r.readUnsigned();
    if (u === 0) {
      if (!this.localValuePartitions)
        throw new ExiError('local value hit, but local value partitions are off');
      const local = this.locals.get(key) ?? [];
      const id = r.readNBit(bitsFor(local.length));
      const e = local[id];
      if (!e) throw new ExiError(`local value compact id ${id} is not assigned`);
      return e.value;
    }
    if (u === 1) {
      const id = r.readNBit(bitsFor(this.globalCount));
      const e = this.global[id];
      if (!e) throw new ExiError(`global value compact id ${id} is not assigned`);
      return e.value;
    }
    const length = u - 2;
    this.budget?.room(length);
    const value = charset ? readRestricted(r, length, charset) : r.readCodePoints(length);
    this.addValue(key, value, length);
    return value;
  }

  private addValue(key: string, value: string, length: number): void {
    if (length === 0 || length > this.valueMaxLength || this.valuePartitionCapacity === 0) return;
    const prevGlobalId = this.globalId;
    const prevMapped = this.undo && this.globalByValue.get(value);
    let local = this.localValuePartitions ? this.locals.get(key) : undefined;
    let created = false;
    if (!local && this.localValuePartitions) {
      local = [];
      this.locals.set(key, local);
      created = true;
    }
    let globalId: number;
    let old: ValueEntry | undefined;
    let oldMapped = false;
    if (this.valuePartitionCapacity === Number.POSITIVE_INFINITY) {
      globalId = this.globalCount;
    } else {
      this.globalId = this.globalId + 1 === this.valuePartitionCapacity ? 0 : this.globalId + 1;
      globalId = this.globalId;
      old = this.global[globalId];
      if (old) {
        // The replaced value leaves its local partition; its local id stays unassigned.
        const oldLocal = this.locals.get(old.key);
        if (oldLocal) oldLocal[old.localId] = undefined;
        oldMapped = this.globalByValue.get(old.value) === old;
        if (oldMapped) this.globalByValue.delete(old.value);
        this.globalCount--;
      }
    }
    const e: ValueEntry = { value, key, localId: local ? local.length : -1, globalId };
    local?.push(e);
    this.global[globalId] = e;
    this.globalByValue.set(value, e);
    this.globalCount++;
    if (this.undo) {
      const partition = local;
      this.undo.push(() => {
        partition?.pop();
        if (created) this.locals.delete(key);
        if (prevMapped) this.globalByValue.set(value, prevMapped);
        else this.globalByValue.delete(value);
        if (old) {
          this.global[globalId] = old;
          const oldLocal = this.locals.get(old.key);
          if (oldLocal) oldLocal[old.localId] = old;
          if (oldMapped) this.globalByValue.set(old.value, old);
        } else {
          this.global.pop();
          this.globalCount--;
        }
        this.globalId = prevGlobalId;
      });
    }
  }
}

/**
 * Characters of a string with a restricted character set (§7.1.10.1): each one as an n-bit
 * index into the set, n = ceil(log2(N + 1)); a character outside the set as N followed by its
 * code point.
 */
function writeRestricted(w: BitWriter, value: string, charset: readonly number[]): void {
  const n = bitsFor(charset.length + 1);
  for (const ch of value) {
    const cp = ch.codePointAt(0) as number;
    const i = charset.indexOf(cp);
    if (i >= 0) w.writeNBit(i, n);
    else {
      w.writeNBit(charset.length, n);
      w.writeUnsigned(cp);
    }
  }
}

function readRestricted(r: BitReader, length: number, charset: readonly number[]): string {
  const n = bitsFor(charset.length + 1);
  let out = '';
  for (let k = 0; k < length; k++) {
    const i = r.readNBit(n);
    const cp = i < charset.length ? (charset[i] as number) : r.readUnsigned();
    if (i > charset.length || !isXmlChar(cp)) throw new ExiError(`invalid restricted character ${i}`);
    out += String.fromCodePoint(cp);
  }
  return out;
}
