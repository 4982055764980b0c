/**
 * Schema-informed element grammars (§8.5.4) for strict=false, built from a compiled schema.
 *
 * A complex type's grammar is the concatenation of its attribute uses (sorted by local name,
 * then URI) and its content grammar (§8.5.4.1.3.2). The content model is turned into an
 * automaton of element terms and normalized (§8.5.4.2: productions without terminal symbol
 * removed, states reached by the same terminal merged) by a subset construction. First-level
 * event codes follow §8.5.4.3: AT(qname) sorted, SE(qname) in schema order, EE, CH.
 *
 * The undeclared productions of §8.5.4.4.1 form the second level:
 * - first state (Element_i,0): EE (if not on the first level), AT(xsi:type), AT(xsi:nil),
 *   AT(*), AT(qname)[untyped value] (with a third level), NS, SC, SE(*), CH, ER, CM/PI;
 * - other states up to the content state: EE, AT(*), AT[untyped value], SE(*), CH, ER, CM/PI;
 * - states inside the content: EE, SE(*), CH, ER, CM/PI.
 * SE(*) and CH from a start-tag state move to Element_i,content2, an element-content copy of
 * the content state. Schema-informed grammars do not learn.
 */
import { type BitReader, type BitWriter, bitsFor, ExiError } from '../bits.js';
import { qnameKey } from '../strings.js';
import type { ResolvedOptions } from '../types.js';
import { type ComplexTypeDef, compareQName, type Datatype, type ElementDecl, type Particle } from './xsd.js';

export type SProd =
  | {
      readonly t: 'AT';
      readonly uri: string;
      readonly localName: string;
      readonly key: string;
      readonly dt: Datatype;
      readonly next: SState;
    }
  | {
      readonly t: 'SE';
      readonly uri: string;
      readonly localName: string;
      readonly key: string;
      readonly decl: ElementDecl;
      readonly next: SState;
    }
  | { readonly t: 'EE' }
  | { readonly t: 'CH'; readonly dt: Datatype; readonly next: SState }
  /** AT(*) on the first level: only in the xs:anyType grammar. */
  | { readonly t: 'AT*' }
  /** SE(*) on the first level: the xs:anyType grammar and element wildcards (##any, ##other). */
  | { readonly t: 'SE*'; readonly next: SState }
  /** SE(uri:*): element wildcards naming namespaces (§8.5.4.1.6). */
  | { readonly t: 'SEuri'; readonly uri: string; readonly next: SState };

export type Second =
  'EE' | 'XSI_TYPE' | 'XSI_NIL' | 'AT*' | 'AT_INVALID' | 'NS' | 'SC' | 'SE*' | 'CH' | 'ER' | 'CMPI';

export interface SState {
  kind: 'first' | 'startTag' | 'element';
  prods: SProd[];
  hasEE: boolean;
  /** Where SE(*) and undeclared CH lead (itself for element-content states). */
  content2: SState;
  second: Second[];
  third: ('CM' | 'PI')[];
  /** Number of AT(qname) productions (third level of AT[untyped value] has one more). */
  nAt: number;
  /** Index of the EE production on the first level, or -1. */
  ee: number;
  /** Index of the first AT(qname) / SE(qname) production with a local name (the encoder's lookups). */
  atByName: Map<string, number>;
  seByName: Map<string, number>;
}

const EE_PROD: SProd = { t: 'EE' };
const UNTYPED: Datatype = { kind: 'string' };

// --- content automaton ---------------------------------------------------------------------------

type Label =
  | { kind: 'SE'; decl: ElementDecl }
  | { kind: 'CH'; dt: Datatype }
  | { kind: 'SE*' }
  | { kind: 'SEuri'; uri: string };

class Nfa {
  eps: number[][] = [];
  trans: { label: Label; to: number }[][] = [];

  node(): number {
    this.eps.push([]);
    this.trans.push([]);
    return this.eps.length - 1;
  }

  edge(from: number, to: number): void {
    (this.eps[from] as number[]).push(to);
  }

  term(t: Particle['term'], s: number): number {
    if ('localName' in t) {
      const e = this.node();
      (this.trans[s] as { label: Label; to: number }[]).push({ label: { kind: 'SE', decl: t }, to: e });
      return e;
    }
    if (t.kind === 'any') {
      const e = this.node();
      const out = this.trans[s] as { label: Label; to: number }[];
      if (t.uris === undefined) out.push({ label: { kind: 'SE*' }, to: e });
      else for (const uri of t.uris) out.push({ label: { kind: 'SEuri', uri }, to: e });
      return e;
    }
    if (t.kind === 'sequence') {
      let cur = s;
      for (const p of t.particles) cur = this.particle(p, cur);
      return cur;
    }
    const e = this.node();
    if (t.particles.length === 0) this.edge(s, e);
    for (const p of t.particles) {
      const start = this.node();
      this.edge(s, start);
      this.edge(this.particle(p, start), e);
    }
    return e;
  }

  particle(p: Particle, s: number): number {
    let cur = s;
    for (let i = 0; i < p.min; i++) cur = this.term(p.term, cur);
    if (p.max === Number.POSITIVE_INFINITY) {
      const loop = this.node();
      this.edge(cur, loop);
      this.edge(this.term(p.term, loop), loop);
      return loop;
    }
    for (let i = p.min; i < p.max; i++) {
      const next = this.node();
      this.edge(cur, next);
      this.edge(this.term(p.term, cur), next);
      cur = next;
    }
    return cur;
  }

  closure(set: Iterable<number>): number[] {
    const seen = new Set<number>(set);
    const stack = [...seen];
    while (stack.length > 0) {
      const n = stack.pop() as number;
      for (const m of this.eps[n] as number[]) {
        if (!seen.has(m)) {
          seen.add(m);
          stack.push(m);
        }
      }
    }
    return [...seen].sort((a, b) => a - b);
  }
}

interface DState {
  trans: { label: Label; to: number }[];
  accept: boolean;
}

/** Normalized (deterministic) content automaton; state 0 is the start. */
function contentAutomaton(build: (nfa: Nfa, start: number) => number): DState[] {
  const nfa = new Nfa();
  const start = nfa.node();
  const final = build(nfa, start);
  const states: DState[] = [];
  const index = new Map<string, number>();
  const queue: number[][] = [];
  const add = (set: number[]): number => {
    const key = set.join(',');
    let i = index.get(key);
    if (i === undefined) {
      i = states.length;
      index.set(key, i);
      states.push({ trans: [], accept: set.includes(final) });
      queue.push(set);
    }
    return i;
  };
  add(nfa.closure([start]));
  for (let i = 0; i < queue.length; i++) {
    const set = queue[i] as number[];
    const groups = new Map<string, { label: Label; targets: number[] }>();
    for (const n of set) {
      for (const { label, to } of nfa.trans[n] as { label: Label; to: number }[]) {
        const key =
          label.kind === 'SE'
            ? `${label.decl.localName}\u0000${label.decl.uri}`
            : label.kind === 'SEuri'
              ? `*\u0000${label.uri}`
              : label.kind;
        const g = groups.get(key);
        if (g) {
          g.targets.push(to);
          if (label.kind === 'SE' && g.label.kind === 'SE' && label.decl.order < g.label.decl.order) {
            g.label = label;
          }
        } else groups.set(key, { label, targets: [to] });
      }
    }
    const trans: { label: Label; to: number }[] = [];
    for (const g of groups.values()) trans.push({ label: g.label, to: add(nfa.closure(g.targets)) });
    (states[i] as DState).trans = trans;
  }
  return states;
}

// --- grammars ------------------------------------------------------------------------------------

// §8.5.4.3: AT(qname), AT(*), SE(qname), SE(uri:*), SE(*), EE, CH (stable sort: schema order within a kind).
const PROD_ORDER: Record<SProd['t'], number> = { AT: 0, 'AT*': 1, SE: 2, SEuri: 3, 'SE*': 4, EE: 5, CH: 6 };

function prodOrder(p: SProd): number {
  return PROD_ORDER[p.t];
}

function sortProds(prods: SProd[]): SProd[] {
  return prods.sort((a, b) => {
    const d = prodOrder(a) - prodOrder(b);
    if (d !== 0) return d;
    if (a.t === 'AT' && b.t === 'AT') return compareQName(a, b);
    if (a.t === 'SE' && b.t === 'SE') return a.decl.order - b.decl.order;
    return 0;
  });
}

/** Schema-informed grammars of one stream (shared, immutable after construction). */
export class SchemaGrammars {
  private readonly cache = new Map<ElementDecl, SState>();
  private readonly empties = new Map<SState, SState>();
  private readonly typeDecls = new Map<string, ElementDecl>();
  private emptyContent: SState | undefined;
  private readonly third: ('CM' | 'PI')[];

  constructor(private readonly opts: ResolvedOptions) {
    this.third = [];
    if (opts.preserve.comments) this.third.push('CM');
    if (opts.preserve.pis) this.third.push('PI');
  }

  private state(kind: SState['kind']): SState {
    const s = {
      kind,
      prods: [],
      hasEE: false,
      second: [],
      third: this.third,
      nAt: 0,
      ee: -1,
      atByName: new Map(),
      seByName: new Map(),
    } as unknown as SState;
    s.content2 = s;
    return s;
  }

  private finish(s: SState): void {
    sortProds(s.prods);
    s.hasEE = s.prods.includes(EE_PROD);
    s.ee = s.prods.indexOf(EE_PROD);
    s.nAt = s.prods.filter((p) => p.t === 'AT').length;
    s.prods.forEach((p, i) => {
      if (p.t !== 'AT' && p.t !== 'SE') return;
      const byName = p.t === 'AT' ? s.atByName : s.seByName;
      if (!byName.has(p.localName)) byName.set(p.localName, i);
    });
    const o = this.opts;
    const second: Second[] = [];
    if (!s.hasEE) second.push('EE');
    if (s.kind === 'first') second.push('XSI_TYPE', 'XSI_NIL');
    if (s.kind !== 'element') second.push('AT*', 'AT_INVALID');
    if (s.kind === 'first') {
      if (o.preserve.prefixes) second.push('NS');
      if (o.selfContained) second.push('SC');
    }
    second.push('SE*', 'CH');
    if (o.preserve.dtd) second.push('ER');
    if (this.third.length > 0) second.push('CMPI');
    s.second = second;
  }

  /**
   * The TypeEmpty counterpart of a start-tag state (§8.5.4.1.3, used after xsi:nil="true"): its
   * attribute productions (leading to the TypeEmpty counterparts of their targets) and EE in place
   * of everything else; SE(*) and CH lead to a state that only ends the element.
   */
  typeEmpty(s: SState): SState {
    const cached = this.empties.get(s);
    if (cached) return cached;
    const e = this.state(s.kind);
    this.empties.set(s, e);
    if (!this.emptyContent) {
      this.emptyContent = this.state('element');
      this.emptyContent.prods.push(EE_PROD);
      this.finish(this.emptyContent);
    }
    for (const p of s.prods) {
      if (p.t === 'AT') e.prods.push({ ...p, next: p.next === s ? e : this.typeEmpty(p.next) });
      else if (p.t === 'AT*') e.prods.push(p);
      else if (!e.prods.includes(EE_PROD)) e.prods.push(EE_PROD);
    }
    e.content2 = this.emptyContent;
    this.finish(e);
    return e;
  }

  /** First state of the grammar of a type definition (after xsi:type), keyed by the type's qname. */
  typeGrammar(key: string, type: ComplexTypeDef): SState {
    let decl = this.typeDecls.get(key);
    if (!decl) {
      decl = { uri: '', localName: '', type, nillable: true, order: -1 };
      this.typeDecls.set(key, decl);
    }
    return this.element(decl);
  }

  /** First state (Element_i,0) of an element declaration's grammar. */
  element(decl: ElementDecl): SState {
    const cached = this.cache.get(decl);
    if (cached) return cached;
    const type = decl.type;
    const attrs = type.attributes;
    const content = type.content;
    if (content.kind === 'any') {
      // Complex ur-type grammar (§8.5.4.1.3.3).
      const first = this.state('first');
      const rest = this.state('element');
      this.cache.set(decl, first);
      const untyped: Datatype = { kind: 'string' };
      first.prods = [{ t: 'AT*' }, { t: 'SE*', next: rest }, EE_PROD, { t: 'CH', dt: untyped, next: rest }];
      rest.prods = [{ t: 'SE*', next: rest }, EE_PROD, { t: 'CH', dt: untyped, next: rest }];
      first.content2 = rest;
      this.finish(first);
      this.finish(rest);
      return first;
    }
    const dfa = contentAutomaton((nfa, start) => {
      if (content.kind === 'empty') return start;
      if (content.kind === 'simple') {
        const e = nfa.node();
        (nfa.trans[start] as { label: Label; to: number }[]).push({
          label: { kind: 'CH', dt: content.datatype },
          to: e,
        });
        return e;
      }
      return content.particle ? nfa.particle(content.particle, start) : start;
    });
    const cStates = dfa.map((_, i) =>
      this.state(i === 0 ? (attrs.length === 0 ? 'first' : 'startTag') : 'element'),
    );
    const aStates = attrs.map((_, i) => this.state(i === 0 ? 'first' : 'startTag'));
    const first = aStates[0] ?? (cStates[0] as SState);
    this.cache.set(decl, first);
    dfa.forEach((d, i) => {
      const s = cStates[i] as SState;
      for (const { label, to } of d.trans) {
        const next = cStates[to] as SState;
        if (label.kind === 'CH') s.prods.push({ t: 'CH', dt: label.dt, next });
        else if (label.kind === 'SE*') s.prods.push({ t: 'SE*', next });
        else if (label.kind === 'SEuri') s.prods.push({ t: 'SEuri', uri: label.uri, next });
        else {
          const { uri, localName } = label.decl;
          s.prods.push({ t: 'SE', uri, localName, key: qnameKey(uri, localName), decl: label.decl, next });
        }
      }
      if (d.accept) s.prods.push(EE_PROD);
      // Mixed content: CH [untyped value] in every content state (§8.5.4.1.3.2).
      if (content.kind === 'elements' && content.mixed) s.prods.push({ t: 'CH', dt: UNTYPED, next: s });
    });
    const c0 = cStates[0] as SState;
    aStates.forEach((s, p) => {
      let allOptional = true;
      for (let m = p; m < attrs.length; m++) {
        const a = attrs[m] as (typeof attrs)[number];
        const next = aStates[m + 1] ?? c0;
        s.prods.push({
          t: 'AT',
          uri: a.uri,
          localName: a.localName,
          key: qnameKey(a.uri, a.localName),
          dt: a.datatype,
          next,
        });
        if (a.required) {
          allOptional = false;
          break;
        }
      }
      if (allOptional) s.prods.push(...c0.prods);
    });
    // Element_i,content2: element-content copy of the content state.
    const content2 = this.state('element');
    content2.prods = [...c0.prods];
    for (const s of [...aStates, c0]) s.content2 = content2;
    for (const s of [...aStates, ...cStates, content2]) this.finish(s);
    return first;
  }
}

// --- event codes -----------------------------------------------------------------------------------

export type SPos = { level: 1; index: number } | { level: 2; item: Second; third?: number };

export function writeSchemaCode(w: BitWriter, s: SState, pos: SPos): void {
  const n1 = s.prods.length + (s.second.length > 0 ? 1 : 0);
  if (pos.level === 1) {
    w.writeNBit(pos.index, bitsFor(n1));
    return;
  }
  const i = s.second.indexOf(pos.item);
  if (i < 0) throw new ExiError(`${pos.item} is not allowed here`);
  w.writeNBit(s.prods.length, bitsFor(n1));
  w.writeNBit(i, bitsFor(s.second.length));
  if (pos.item === 'CMPI') w.writeNBit(pos.third ?? 0, bitsFor(s.third.length));
  else if (pos.item === 'AT_INVALID') w.writeNBit(pos.third ?? 0, bitsFor(s.nAt + 1));
}

export type SRead = { level: 1; prod: SProd } | { level: 2; item: Second; third: number };

export function readSchemaCode(r: BitReader, s: SState): SRead {
  const n1 = s.prods.length + (s.second.length > 0 ? 1 : 0);
  const c1 = r.readNBit(bitsFor(n1));
  const prod = s.prods[c1];
  if (prod) return { level: 1, prod };
  if (c1 !== s.prods.length || s.second.length === 0) throw new ExiError(`invalid event code ${c1}`);
  const c2 = r.readNBit(bitsFor(s.second.length));
  const item = s.second[c2];
  if (!item) throw new ExiError(`invalid event code ${c1}.${c2}`);
  let third = 0;
  if (item === 'CMPI') third = r.readNBit(bitsFor(s.third.length));
  else if (item === 'AT_INVALID') third = r.readNBit(bitsFor(s.nAt + 1));
  return { level: 2, item, third };
}
