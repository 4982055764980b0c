/**
 * A compiler for the subset of XML Schema 1.0 that the XMPP IoT schemas use, producing the
 * declarations EXI schema-informed grammars (§8.5) are built from.
 *
 * Supported: global and local element declarations (name, ref, type, inline types, minOccurs,
 * maxOccurs, nillable, form), complex types (sequence, choice, nested groups, attributes,
 * attribute groups, simpleContent and complexContent extension, mixed), simple types derived by
 * restriction (enumerations, min/max inclusive/exclusive; other facets are ignored, which does
 * not change the EXI representation) and list/union types (represented as strings), attribute
 * declarations (use, default, fixed, form, ref). The XSD is read with our own tokenizer.
 *
 * Element wildcards (xs:any) become SE(*) or SE(uri:*) terms (§8.5.4.1.6). Several schema documents
 * can be compiled as one set (`compileXsdSet`, XEP-0322's canonical schema): references between their
 * target namespaces (elements, groups, types, attribute groups) are resolved; xs:import is read as
 * "the namespace is in the set or not loaded", its schemaLocation is ignored. An element reference into
 * a namespace that is not loaded becomes an element of type xs:anyType; any other reference into it is
 * refused. Attribute references to xml:lang, xml:space, xml:base and xml:id are built in.
 *
 * Not supported (ExiUnsupportedError at compile time): attribute wildcards (xs:anyAttribute),
 * xs:all, substitution groups, xs:redefine/xs:include, global attribute declarations; identity
 * constraints are ignored.
 */
import { ExiError, ExiUnsupportedError } from '../bits.js';
import type { ExiEvent } from '../types.js';
import { parseXml } from '../xml.js';

export const XSD_NS = 'http://www.w3.org/2001/XMLSchema';

/** EXI datatype representation (§7.1, Table 7-1) of a simple type. */
export type Datatype =
  /** `charset`: restricted character set from pattern facets (§7.1.10.1), sorted code points. */
  | { readonly kind: 'string'; readonly charset?: readonly number[] }
  | { readonly kind: 'boolean' }
  /** Integer types keep their bounds (if any) to refuse out-of-range values. */
  | { readonly kind: 'integer'; readonly min?: bigint; readonly max?: bigint }
  | { readonly kind: 'unsigned'; readonly min?: bigint; readonly max?: bigint }
  | { readonly kind: 'nbit'; readonly min: bigint; readonly max: bigint; readonly bits: number }
  | { readonly kind: 'float' }
  | { readonly kind: 'decimal' }
  | { readonly kind: 'binary' }
  | { readonly kind: 'datetime'; readonly variant: DateTimeVariant }
  | { readonly kind: 'enum'; readonly values: readonly string[] };

export type DateTimeVariant =
  'dateTime' | 'date' | 'time' | 'gYear' | 'gYearMonth' | 'gMonthDay' | 'gDay' | 'gMonth';

/** Built-in simple types: EXI representation and integer bounds where they matter. */
interface SimpleInfo {
  dt: Datatype;
  /** Integer bounds for integer-derived types. */
  min?: bigint;
  max?: bigint;
  integer?: boolean;
}

export interface AttributeUse {
  readonly uri: string;
  readonly localName: string;
  readonly datatype: Datatype;
  readonly required: boolean;
  readonly defaultValue?: string;
}

export interface Particle {
  readonly min: number;
  readonly max: number; // Infinity for unbounded
  readonly term: ElementDecl | ModelGroup | Wildcard;
}

/** An element wildcard: SE(*) when `uris` is undefined (##any, ##other), else SE(uri:*) for each. */
export interface Wildcard {
  readonly kind: 'any';
  readonly uris?: readonly string[];
}

const XML_NS = 'http://www.w3.org/XML/1998/namespace';

export interface ModelGroup {
  readonly kind: 'sequence' | 'choice';
  readonly particles: readonly Particle[];
}

export type Content =
  | { readonly kind: 'empty' }
  | { readonly kind: 'simple'; readonly datatype: Datatype }
  | { readonly kind: 'elements'; readonly particle: Particle | undefined; readonly mixed: boolean }
  /** xs:anyType (the complex ur-type, §8.5.4.1.3.3): any attributes, elements and text. */
  | { readonly kind: 'any' };

export interface ComplexTypeDef {
  readonly attributes: readonly AttributeUse[];
  readonly content: Content;
}

export interface ElementDecl {
  readonly uri: string;
  readonly localName: string;
  /** Resolved lazily (types may be declared after their use). */
  type: ComplexTypeDef;
  readonly nillable: boolean;
  /** Document order of the declaration, the "schema order" of §8.5.4.3. */
  readonly order: number;
}

/** A compiled schema: what the EXI grammars and string tables are built from. */
export interface CompiledSchema {
  /**
   * The schemaId written to / expected in the EXI options document. A schema compiled without an
   * id is written without schemaId and accepted for any schemaId a stream names.
   */
  readonly id: string | undefined;
  readonly targetNamespace: string;
  /** Global element declarations. */
  readonly globalElements: ReadonlyMap<string, ElementDecl>;
  /** Local names declared per namespace URI (elements, attributes, named types). */
  readonly localNames: ReadonlyMap<string, ReadonlySet<string>>;
  /** Named type definitions of the target namespace by qname key (`local\u0000uri`), for xsi:type. */
  readonly types: ReadonlyMap<string, ComplexTypeDef>;
}

interface XNode {
  uri: string;
  name: string;
  attrs: Map<string, string>;
  children: XNode[];
  ns: Map<string, string>;
  /** The schema document the node belongs to (set for every node by the compiler). */
  doc?: SchemaDoc;
}

interface SchemaDoc {
  readonly tns: string;
  readonly elementFormQualified: boolean;
  readonly attributeFormQualified: boolean;
}

function buildTree(events: readonly ExiEvent[]): XNode {
  const stack: XNode[] = [];
  let root: XNode | undefined;
  let pendingNs: Map<string, string> | undefined;
  for (const e of events) {
    if (e.type === 'SE') {
      const parentNs = stack.at(-1)?.ns ?? new Map<string, string>();
      const node: XNode = {
        uri: e.uri,
        name: e.localName,
        attrs: new Map(),
        children: [],
        ns: new Map(parentNs),
      };
      stack.at(-1)?.children.push(node);
      stack.push(node);
      if (!root) root = node;
      pendingNs = node.ns;
    } else if (e.type === 'NS' && pendingNs) {
      pendingNs.set(e.prefix, e.uri);
    } else if (e.type === 'AT') {
      const top = stack.at(-1);
      if (top && e.uri === '') top.attrs.set(e.localName, e.value);
    } else if (e.type === 'EE') {
      stack.pop();
    }
  }
  if (!root) throw new ExiError('XSD: empty document');
  return root;
}

const INT_RANGES: Record<string, [bigint | undefined, bigint | undefined]> = {
  integer: [undefined, undefined],
  nonPositiveInteger: [undefined, 0n],
  negativeInteger: [undefined, -1n],
  long: [-(2n ** 63n), 2n ** 63n - 1n],
  int: [-(2n ** 31n), 2n ** 31n - 1n],
  short: [-32768n, 32767n],
  byte: [-128n, 127n],
  nonNegativeInteger: [0n, undefined],
  unsignedLong: [0n, 2n ** 64n - 1n],
  unsignedInt: [0n, 2n ** 32n - 1n],
  unsignedShort: [0n, 65535n],
  unsignedByte: [0n, 255n],
  positiveInteger: [1n, undefined],
};

const DATETIME_TYPES = new Set<string>([
  'dateTime',
  'date',
  'time',
  'gYear',
  'gYearMonth',
  'gMonthDay',
  'gDay',
  'gMonth',
]);

/** Integer representation for bounds (§7.1.5, §7.1.9): n-bit if the range has at most 4096 values. */
function integerDatatype(min: bigint | undefined, max: bigint | undefined): Datatype {
  if (min !== undefined && max !== undefined && max - min < 4096n) {
    const range = Number(max - min) + 1;
    return { kind: 'nbit', min, max, bits: range <= 1 ? 0 : 32 - Math.clz32(range - 1) };
  }
  const bounds = { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
  if (min !== undefined && min >= 0n) return { kind: 'unsigned', ...bounds };
  return { kind: 'integer', ...bounds };
}

function builtin(name: string): SimpleInfo | undefined {
  const range = INT_RANGES[name];
  if (range) return { dt: integerDatatype(range[0], range[1]), min: range[0], max: range[1], integer: true };
  if (name === 'boolean') return { dt: { kind: 'boolean' } };
  if (name === 'decimal') return { dt: { kind: 'decimal' } };
  if (name === 'float' || name === 'double') return { dt: { kind: 'float' } };
  if (name === 'base64Binary' || name === 'hexBinary') return { dt: { kind: 'binary' } };
  if (DATETIME_TYPES.has(name)) return { dt: { kind: 'datetime', variant: name as DateTimeVariant } };
  if (
    [
      'string',
      'normalizedString',
      'token',
      'language',
      'Name',
      'NCName',
      'NMTOKEN',
      'NMTOKENS',
      'ID',
      'IDREF',
      'IDREFS',
      'ENTITY',
      'ENTITIES',
      'anyURI',
      'QName',
      'NOTATION',
      'duration',
      'anySimpleType',
    ].includes(name)
  ) {
    return { dt: { kind: 'string' } };
  }
  return undefined;
}

/** Compiles an XSD (the subset described above) for use as `schema` / `schemas[id]`. */
export function compileXsd(xsd: string, id?: string): CompiledSchema {
  return compileXsdSet([xsd], id);
}

/**
 * Compiles several schema documents as one schema (the canonical schema of XEP-0322 §3.10: a wrapper
 * importing each of them). `targetNamespace` is the first document's.
 */
export function compileXsdSet(xsds: readonly string[], id?: string): CompiledSchema {
  return new Compiler(
    xsds.map((x) => buildTree(parseXml(x))),
    id,
  ).compile();
}

/** The targetNamespace of a schema document, without compiling it. */
export function xsdTargetNamespace(xsd: string): string {
  const root = buildTree(parseXml(xsd));
  if (root.uri !== XSD_NS || root.name !== 'schema') throw new ExiError('XSD: root element is not xs:schema');
  return root.attrs.get('targetNamespace') ?? '';
}

const qkey = (local: string, uri: string): string => `${local}\u0000${uri}`;

class Compiler {
  /** Target namespaces of the documents in the set. */
  private readonly loaded = new Set<string>();
  private readonly named = {
    element: new Map<string, XNode>(),
    complexType: new Map<string, XNode>(),
    simpleType: new Map<string, XNode>(),
    attribute: new Map<string, XNode>(),
    attributeGroup: new Map<string, XNode>(),
    group: new Map<string, XNode>(),
  };
  private readonly complexCache = new Map<XNode, ComplexTypeDef>();
  private readonly simpleCache = new Map<XNode, SimpleInfo>();
  private readonly inProgress = new Set<XNode>();
  private readonly globals = new Map<string, ElementDecl>();
  private readonly localNames = new Map<string, Set<string>>();
  private readonly pending: (() => void)[] = [];
  private readonly external = new Map<string, ElementDecl>();
  private order = 0;

  constructor(
    private readonly roots: readonly XNode[],
    private readonly id: string | undefined,
  ) {
    for (const root of roots) {
      if (root.uri !== XSD_NS || root.name !== 'schema')
        throw new ExiError('XSD: root element is not xs:schema');
      const doc: SchemaDoc = {
        tns: root.attrs.get('targetNamespace') ?? '',
        elementFormQualified: root.attrs.get('elementFormDefault') === 'qualified',
        attributeFormQualified: root.attrs.get('attributeFormDefault') === 'qualified',
      };
      this.loaded.add(doc.tns);
      const stack = [root];
      while (stack.length > 0) {
        const n = stack.pop() as XNode;
        n.doc = doc;
        stack.push(...n.children);
      }
    }
  }

  private doc(n: XNode): SchemaDoc {
    return n.doc as SchemaDoc;
  }

  private addName(uri: string, name: string): void {
    let set = this.localNames.get(uri);
    if (!set) {
      set = new Set();
      this.localNames.set(uri, set);
    }
    set.add(name);
  }

  compile(): CompiledSchema {
    for (const root of this.roots) {
      const tns = this.doc(root).tns;
      for (const c of this.xsChildren(root)) {
        const name = c.attrs.get('name');
        switch (c.name) {
          case 'element':
          case 'complexType':
          case 'simpleType':
          case 'attribute':
          case 'attributeGroup':
          case 'group':
            if (name === undefined) throw new ExiError(`XSD: global xs:${c.name} without a name`);
            this.named[c.name].set(qkey(name, tns), c);
            if (c.name === 'complexType' || c.name === 'simpleType') this.addName(tns, name);
            break;
          case 'annotation':
          case 'notation':
            break;
          case 'import':
            // The namespace is either in the set or not loaded (see lookup() and particle()); a
            // schemaLocation is not followed.
            break;
          default:
            throw new ExiUnsupportedError(`XSD construct xs:${c.name}`);
        }
      }
    }
    for (const [key, node] of this.named.element) this.globals.set(key, this.elementDecl(node, true));
    if (this.named.attribute.size > 0) {
      // AT(*) values would have to be typed by them (§8.5.4.4.1): not implemented.
      throw new ExiUnsupportedError('XSD global attribute declarations');
    }
    while (this.pending.length > 0) (this.pending.shift() as () => void)();
    const types = new Map<string, ComplexTypeDef>();
    for (const [key, node] of this.named.complexType) types.set(key, this.complexType(node));
    for (const [key, node] of this.named.simpleType) {
      types.set(key, {
        attributes: [],
        content: { kind: 'simple', datatype: this.simple(node).dt },
      });
    }
    return {
      id: this.id,
      targetNamespace: this.doc(this.roots[0] as XNode).tns,
      globalElements: this.globals,
      types,
      localNames: this.localNames,
    };
  }

  private xsChildren(n: XNode): XNode[] {
    return n.children.filter((c) => c.uri === XSD_NS && c.name !== 'annotation');
  }

  /** Resolves a QName attribute value to {uri, local}. */
  private qname(n: XNode, value: string): { uri: string; local: string } {
    const i = value.indexOf(':');
    const prefix = i < 0 ? '' : value.slice(0, i);
    const local = i < 0 ? value : value.slice(i + 1);
    const uri = n.ns.get(prefix) ?? (prefix === '' ? '' : prefix === 'xml' ? XML_NS : undefined);
    if (uri === undefined) throw new ExiError(`XSD: undeclared prefix in '${value}'`);
    return { uri, local };
  }

  private lookup<K extends keyof Compiler['named']>(kind: K, n: XNode, ref: string): XNode {
    const q = this.qname(n, ref);
    if (!this.loaded.has(q.uri))
      throw new ExiUnsupportedError(`XSD reference to a namespace that is not loaded: ${ref}`);
    const node = this.named[kind].get(qkey(q.local, q.uri));
    if (!node) throw new ExiError(`XSD: unknown ${kind} '${ref}'`);
    return node;
  }

  private elementDecl(n: XNode, global: boolean): ElementDecl {
    const name = n.attrs.get('name');
    if (name === undefined) throw new ExiError('XSD: element without a name');
    const form = n.attrs.get('form');
    const qualified = global || (form ? form === 'qualified' : this.doc(n).elementFormQualified);
    const uri = qualified ? this.doc(n).tns : '';
    this.addName(uri, name);
    const decl: ElementDecl = {
      uri,
      localName: name,
      type: { attributes: [], content: { kind: 'empty' } },
      nillable: n.attrs.get('nillable') === 'true',
      order: this.order++,
    };
    if (n.attrs.has('substitutionGroup')) throw new ExiUnsupportedError('XSD substitution groups');
    // Types are resolved after all declarations are known (recursive content models).
    this.pending.push(() => {
      decl.type = this.elementType(n);
    });
    return decl;
  }

  private elementType(n: XNode): ComplexTypeDef {
    const typeRef = n.attrs.get('type');
    if (typeRef !== undefined) {
      const q = this.qname(n, typeRef);
      if (q.uri === XSD_NS) {
        if (q.local === 'anyType') return ANY_TYPE;
        return { attributes: [], content: { kind: 'simple', datatype: this.simpleByName(n, typeRef).dt } };
      }
      const ct = this.named.complexType.get(qkey(q.local, q.uri));
      if (ct) return this.complexType(ct);
      return { attributes: [], content: { kind: 'simple', datatype: this.simpleByName(n, typeRef).dt } };
    }
    for (const c of this.xsChildren(n)) {
      if (c.name === 'complexType') return this.complexType(c);
      if (c.name === 'simpleType')
        return { attributes: [], content: { kind: 'simple', datatype: this.simple(c).dt } };
    }
    return ANY_TYPE;
  }

  private simpleByName(n: XNode, ref: string): SimpleInfo {
    const q = this.qname(n, ref);
    if (q.uri === XSD_NS) {
      const b = builtin(q.local);
      if (!b) throw new ExiUnsupportedError(`XSD built-in type xs:${q.local}`);
      return b;
    }
    return this.simple(this.lookup('simpleType', n, ref));
  }

  private simple(n: XNode): SimpleInfo {
    const cached = this.simpleCache.get(n);
    if (cached) return cached;
    let info: SimpleInfo | undefined;
    for (const c of this.xsChildren(n)) {
      if (c.name === 'list' || c.name === 'union') info = { dt: { kind: 'string' } };
      else if (c.name === 'restriction') info = this.restriction(c);
    }
    if (!info) throw new ExiError('XSD: simpleType without restriction, list or union');
    this.simpleCache.set(n, info);
    return info;
  }

  private restriction(r: XNode): SimpleInfo {
    const baseRef = r.attrs.get('base');
    let base: SimpleInfo;
    if (baseRef !== undefined) base = this.simpleByName(r, baseRef);
    else {
      const inline = this.xsChildren(r).find((c) => c.name === 'simpleType');
      if (!inline) throw new ExiError('XSD: restriction without a base');
      base = this.simple(inline);
    }
    const enums: string[] = [];
    const patterns: string[] = [];
    let { min, max } = base;
    for (const f of this.xsChildren(r)) {
      const v = f.attrs.get('value');
      if (v === undefined) continue;
      if (f.name === 'enumeration') enums.push(v);
      else if (f.name === 'pattern') patterns.push(v);
      else if (base.integer) {
        const big = BigInt(v.trim());
        if (f.name === 'minInclusive') min = min === undefined || big > min ? big : min;
        else if (f.name === 'minExclusive') min = min === undefined || big + 1n > min ? big + 1n : min;
        else if (f.name === 'maxInclusive') max = max === undefined || big < max ? big : max;
        else if (f.name === 'maxExclusive') max = max === undefined || big - 1n < max ? big - 1n : max;
      }
    }
    if (enums.length > 0 && base.dt.kind !== 'enum') {
      return { dt: { kind: 'enum', values: enums } };
    }
    if (base.integer) return { dt: integerDatatype(min, max), min, max, integer: true };
    if (base.dt.kind === 'string' && patterns.length > 0) {
      const charset = restrictedCharset(patterns);
      return { dt: charset ? { kind: 'string', charset } : { kind: 'string' } };
    }
    return base;
  }

  private attributeUse(n: XNode, global: boolean): AttributeUse {
    const ref = n.attrs.get('ref');
    const use = n.attrs.get('use');
    if (ref !== undefined) {
      const q = this.qname(n, ref);
      if (q.uri === XML_NS && ['lang', 'space', 'base', 'id'].includes(q.local)) {
        // The XML namespace's attributes (xml.xsd), all represented as strings.
        this.addName(XML_NS, q.local);
        return {
          uri: XML_NS,
          localName: q.local,
          datatype: { kind: 'string' },
          required: use === 'required',
        };
      }
      const target = this.attributeUse(this.lookup('attribute', n, ref), true);
      return { ...target, required: use === 'required' };
    }
    const name = n.attrs.get('name');
    if (name === undefined) throw new ExiError('XSD: attribute without a name');
    const form = n.attrs.get('form');
    const qualified = global || (form ? form === 'qualified' : this.doc(n).attributeFormQualified);
    const uri = qualified ? this.doc(n).tns : '';
    this.addName(uri, name);
    const typeRef = n.attrs.get('type');
    let datatype: Datatype = { kind: 'string' };
    if (typeRef !== undefined) datatype = this.simpleByName(n, typeRef).dt;
    else {
      const inline = this.xsChildren(n).find((c) => c.name === 'simpleType');
      if (inline) datatype = this.simple(inline).dt;
    }
    const dflt = n.attrs.get('default') ?? n.attrs.get('fixed');
    return {
      uri,
      localName: name,
      datatype,
      required: use === 'required',
      ...(dflt !== undefined ? { defaultValue: dflt } : {}),
    };
  }

  /** Attribute uses of a complexType / extension / attributeGroup body. */
  private attributes(n: XNode, out: AttributeUse[], prohibited = new Set<string>()): void {
    for (const c of this.xsChildren(n)) {
      if (c.name === 'attribute') {
        if (c.attrs.get('use') === 'prohibited') {
          const name = c.attrs.get('name') ?? c.attrs.get('ref');
          if (name !== undefined) prohibited.add(name.slice(name.indexOf(':') + 1));
          continue;
        }
        out.push(this.attributeUse(c, false));
      } else if (c.name === 'attributeGroup') {
        const ref = c.attrs.get('ref');
        if (ref === undefined) throw new ExiError('XSD: local attributeGroup without ref');
        this.attributes(this.lookup('attributeGroup', c, ref), out, prohibited);
      } else if (c.name === 'anyAttribute') {
        throw new ExiUnsupportedError('XSD attribute wildcards (xs:anyAttribute)');
      }
    }
  }

  private particle(n: XNode): Particle | undefined {
    const min = Number(n.attrs.get('minOccurs') ?? '1');
    const maxAttr = n.attrs.get('maxOccurs') ?? '1';
    const max = maxAttr === 'unbounded' ? Number.POSITIVE_INFINITY : Number(maxAttr);
    if (max === 0) return undefined;
    switch (n.name) {
      case 'element': {
        const ref = n.attrs.get('ref');
        if (ref !== undefined) {
          const q = this.qname(n, ref);
          const g = this.globals.get(qkey(q.local, q.uri));
          if (g) return { min, max, term: g };
          if (this.loaded.has(q.uri)) throw new ExiError(`XSD: unknown element '${ref}'`);
          // An element of an imported namespace whose schema is not loaded: xs:anyType.
          let ext = this.external.get(`${q.local}\u0000${q.uri}`);
          if (!ext) {
            ext = { uri: q.uri, localName: q.local, type: ANY_TYPE, nillable: false, order: this.order++ };
            this.external.set(`${q.local}\u0000${q.uri}`, ext);
          }
          return { min, max, term: ext };
        }
        return { min, max, term: this.elementDecl(n, false) };
      }
      case 'sequence':
      case 'choice': {
        const particles: Particle[] = [];
        for (const c of this.xsChildren(n)) {
          const p = this.particle(c);
          if (p) particles.push(p);
        }
        return { min, max, term: { kind: n.name, particles } };
      }
      case 'group': {
        const ref = n.attrs.get('ref');
        if (ref === undefined) throw new ExiError('XSD: local group without ref');
        const g = this.lookup('group', n, ref);
        const body = this.xsChildren(g)[0];
        if (!body) return undefined;
        const inner = this.particle(body);
        return inner ? { min, max, term: { kind: 'sequence', particles: [inner] } } : undefined;
      }
      case 'all':
        throw new ExiUnsupportedError('XSD xs:all model groups');
      case 'any':
        return { min, max, term: this.wildcard(n) };
      default:
        return undefined;
    }
  }

  /** Namespace constraint of xs:any (§8.5.4.1.6): SE(*) for ##any and ##other, else SE(uri:*) each. */
  private wildcard(n: XNode): Wildcard {
    const ns = (n.attrs.get('namespace') ?? '##any').trim();
    if (ns === '##any' || ns === '##other') return { kind: 'any' };
    const uris = [
      ...new Set(
        ns.split(/\s+/).map((u) => (u === '##targetNamespace' ? this.doc(n).tns : u === '##local' ? '' : u)),
      ),
    ];
    // The URIs of SE(uri:*) are pre-populated in the URI partition with the schema's namespaces.
    for (const u of uris) if (!this.localNames.has(u)) this.localNames.set(u, new Set());
    return { kind: 'any', uris };
  }

  private contentParticle(n: XNode): Particle | undefined {
    for (const c of this.xsChildren(n)) {
      if (['sequence', 'choice', 'group', 'all', 'any'].includes(c.name)) return this.particle(c);
    }
    return undefined;
  }

  private complexType(n: XNode): ComplexTypeDef {
    const cached = this.complexCache.get(n);
    if (cached) return cached;
    if (this.inProgress.has(n)) throw new ExiUnsupportedError('XSD recursive type derivation');
    this.inProgress.add(n);
    const attributes: AttributeUse[] = [];
    const prohibited = new Set<string>();
    let content: Content;
    const mixed = n.attrs.get('mixed') === 'true';
    const simpleContent = this.xsChildren(n).find((c) => c.name === 'simpleContent');
    const complexContent = this.xsChildren(n).find((c) => c.name === 'complexContent');
    if (simpleContent) {
      const d = this.xsChildren(simpleContent)[0];
      if (!d) throw new ExiError('XSD: empty simpleContent');
      const baseRef = d.attrs.get('base');
      if (baseRef === undefined) throw new ExiError('XSD: simpleContent derivation without base');
      const q = this.qname(d, baseRef);
      const baseCt = this.named.complexType.get(qkey(q.local, q.uri));
      if (baseCt) {
        const base = this.complexType(baseCt);
        attributes.push(...base.attributes);
        content = base.content;
        if (d.name === 'restriction') content = { kind: 'simple', datatype: this.restriction(d).dt };
      } else {
        content = { kind: 'simple', datatype: this.simpleByName(d, baseRef).dt };
      }
      this.attributes(d, attributes, prohibited);
    } else if (complexContent) {
      const d = this.xsChildren(complexContent)[0];
      if (!d) throw new ExiError('XSD: empty complexContent');
      const baseRef = d.attrs.get('base');
      if (baseRef === undefined) throw new ExiError('XSD: complexContent derivation without base');
      const own = this.contentParticle(d);
      const cmixed = mixed || complexContent.attrs.get('mixed') === 'true';
      const q = this.qname(d, baseRef);
      if (d.name === 'extension' && !(q.uri === XSD_NS && q.local === 'anyType')) {
        const base = this.complexType(this.lookup('complexType', d, baseRef));
        attributes.push(...base.attributes);
        const baseParticle = base.content.kind === 'elements' ? base.content.particle : undefined;
        const parts = [baseParticle, own].filter((p): p is Particle => p !== undefined);
        const particle: Particle | undefined =
          parts.length === 0
            ? undefined
            : parts.length === 1
              ? parts[0]
              : { min: 1, max: 1, term: { kind: 'sequence', particles: parts } };
        content =
          particle || cmixed || (base.content.kind === 'elements' && base.content.mixed)
            ? { kind: 'elements', particle, mixed: cmixed }
            : { kind: 'empty' };
      } else {
        // Restriction: the content model is restated; attribute uses are inherited unless
        // redeclared or prohibited.
        if (this.named.complexType.has(qkey(q.local, q.uri))) {
          attributes.push(...this.complexType(this.lookup('complexType', d, baseRef)).attributes);
        }
        content = own || cmixed ? { kind: 'elements', particle: own, mixed: cmixed } : { kind: 'empty' };
      }
      this.attributes(d, attributes, prohibited);
    } else {
      const particle = this.contentParticle(n);
      content = particle || mixed ? { kind: 'elements', particle, mixed } : { kind: 'empty' };
      this.attributes(n, attributes, prohibited);
    }
    // Attribute uses are sorted by local name, then namespace (§8.5.4.1.3.2); later uses
    // of the same name (restrictions/redeclarations) replace earlier ones.
    const byKey = new Map<string, AttributeUse>();
    for (const a of attributes) {
      if (!prohibited.has(a.localName)) byKey.set(`${a.localName}\u0000${a.uri}`, a);
    }
    const sorted = [...byKey.values()].sort(compareQName);
    const def: ComplexTypeDef = { attributes: sorted, content };
    this.inProgress.delete(n);
    this.complexCache.set(n, def);
    return def;
  }
}

const ANY_TYPE: ComplexTypeDef = { attributes: [], content: { kind: 'any' } };

/** Type definition of a built-in XML Schema type (xs:anyType, xs:int, ...), for xsi:type. */
export function builtinTypeDefinition(localName: string): ComplexTypeDef | undefined {
  if (localName === 'anyType') return ANY_TYPE;
  const b = builtin(localName);
  return b ? { attributes: [], content: { kind: 'simple', datatype: b.dt } } : undefined;
}

/**
 * The restricted character set of pattern facets (§7.1.10.1, Appendix E): the characters the
 * regular expressions can match, or undefined when that set is not restricted (wildcards,
 * negative groups, multi-character escapes other than \s, categories, 255 or more characters,
 * characters outside the BMP).
 */
export function restrictedCharset(patterns: readonly string[]): number[] | undefined {
  const set = new Set<number>();
  const add = (from: number, to: number): boolean => {
    if (to - from > 300) return false;
    for (let c = from; c <= to; c++) set.add(c);
    return true;
  };
  const SINGLE_ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9 };
  /** Reads one character (possibly escaped) at i: [code point, next index] or undefined if unrestricted. */
  const readChar = (p: string, i: number): [number, number] | undefined => {
    const ch = p.codePointAt(i) as number;
    if (ch !== 0x5c) return [ch, i + (ch > 0xffff ? 2 : 1)];
    const e = p[i + 1];
    if (e === undefined) return undefined;
    const single = SINGLE_ESCAPES[e];
    if (single !== undefined) return [single, i + 2];
    if ('\\|.-^?*+{}()[]'.includes(e)) return [e.charCodeAt(0), i + 2];
    return undefined;
  };
  for (const p of patterns) {
    let i = 0;
    while (i < p.length) {
      const c = p[i] as string;
      if ('()|?*+'.includes(c)) {
        i++;
      } else if (c === '{') {
        const end = p.indexOf('}', i);
        if (end < 0) return undefined;
        i = end + 1;
      } else if (c === '.') {
        return undefined;
      } else if (c === '\\' && p[i + 1] === 's') {
        for (const x of [9, 10, 13, 32]) set.add(x);
        i += 2;
      } else if (c === '[') {
        i++;
        if (p[i] === '^') return undefined;
        while (i < p.length && p[i] !== ']') {
          if (p[i] === '-' && p[i + 1] === '[') return undefined; // subtraction
          if (p[i] === '\\' && p[i + 1] === 's') {
            for (const x of [9, 10, 13, 32]) set.add(x);
            i += 2;
            continue;
          }
          const a = readChar(p, i);
          if (!a) return undefined;
          i = a[1];
          if (p[i] === '-' && p[i + 1] !== ']' && p[i + 1] !== undefined) {
            const b = readChar(p, i + 1);
            if (!b || !add(a[0], b[0])) return undefined;
            i = b[1];
          } else set.add(a[0]);
        }
        if (p[i] !== ']') return undefined;
        i++;
      } else {
        const a = readChar(p, i);
        if (!a) return undefined;
        set.add(a[0]);
        i = a[1];
      }
    }
  }
  if (set.size >= 255 || [...set].some((c) => c > 0xffff)) return undefined;
  return [...set].sort((a, b) => a - b);
}

/** Lexicographic order by local name, then URI (UTF-16 code units, as Java's String.compareTo). */
export function compareQName(
  a: { localName: string; uri: string },
  b: { localName: string; uri: string },
): number {
  if (a.localName !== b.localName) return a.localName < b.localName ? -1 : 1;
  if (a.uri !== b.uri) return a.uri < b.uri ? -1 : 1;
  return 0;
}
