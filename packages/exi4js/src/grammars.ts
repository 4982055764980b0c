/**
 * Built-in (schema-less) grammars (§8.4) with grammar learning, and event-code tables (§6.2).
 *
 * Every grammar state is represented by a code table: first-level productions, then optionally
 * one group of second-level productions, which may end in a group of third-level productions
 * (CM/PI). Productions that the fidelity options exclude are pruned (§8.3). Learned productions
 * are inserted at code 0 of their state, shifting all others by one (§8.4.2, §8.4.3).
 */
import { type BitReader, type BitWriter, bitsFor, ExiError, ExiLimitError } from './bits.js';
import { qnameKey } from './strings.js';
import type { ResolvedOptions, UndoLog } from './types.js';

export type Generic = 'SE*' | 'AT*' | 'EE' | 'CH' | 'NS' | 'SC' | 'ER' | 'CM' | 'PI' | 'DT' | 'ED';

export type Term =
  | { readonly kind: Generic }
  | { readonly kind: 'SE' | 'AT'; readonly uri: string; readonly localName: string; readonly key: string };

/** A learned SE(qname) or AT(qname) production. */
export type LearnedTerm = Extract<Term, { kind: 'SE' | 'AT' }>;

/** Generic productions; code tables hold these very objects, so lookups compare identity. */
export const Terms = {
  SE_ANY: { kind: 'SE*' },
  AT_ANY: { kind: 'AT*' },
  EE: { kind: 'EE' },
  CH: { kind: 'CH' },
  NS: { kind: 'NS' },
  SC: { kind: 'SC' },
  ER: { kind: 'ER' },
  CM: { kind: 'CM' },
  PI: { kind: 'PI' },
  DT: { kind: 'DT' },
  ED: { kind: 'ED' },
} as const satisfies Record<string, Term>;

export interface CodeTable {
  readonly first: readonly Term[];
  readonly second: readonly Term[];
  readonly third: readonly Term[];
}

/** Position of a production in a code table. */
export interface CodePos {
  level: 1 | 2 | 3;
  index: number;
}

export function findGeneric(t: CodeTable, term: Term): CodePos | undefined {
  let i = t.first.indexOf(term);
  if (i >= 0) return { level: 1, index: i };
  i = t.second.indexOf(term);
  if (i >= 0) return { level: 2, index: i };
  i = t.third.indexOf(term);
  if (i >= 0) return { level: 3, index: i };
  return undefined;
}

/** Index of a learned SE(qname)/AT(qname) production at the first level, or -1 (by qualified name). */
export function findLearnedQName(t: CodeTable, kind: 'SE' | 'AT', uri: string, localName: string): number {
  const first = t.first;
  for (let i = 0; i < first.length; i++) {
    const p = first[i] as Term;
    if (p.kind !== kind) continue;
    const q = p as LearnedTerm;
    if (q.localName === localName && q.uri === uri) return i;
  }
  return -1;
}

/** Index of a learned SE(qname)/AT(qname) production at the first level, or -1. */
export function findLearned(t: CodeTable, kind: 'SE' | 'AT', key: string): number {
  const first = t.first;
  for (let i = 0; i < first.length; i++) {
    const p = first[i] as Term;
    if (p.kind === kind && 'key' in p && p.key === key) return i;
  }
  return -1;
}

/** Event code of the first-level production `index`. */
export function writeFirst(w: BitWriter, t: CodeTable, index: number): void {
  const n1 = t.first.length + (t.second.length > 0 || t.third.length > 0 ? 1 : 0);
  w.writeNBit(index, bitsFor(n1));
}

export function writeCode(w: BitWriter, t: CodeTable, pos: CodePos): void {
  const hasSecond = t.second.length > 0 || t.third.length > 0;
  const n1 = t.first.length + (hasSecond ? 1 : 0);
  if (pos.level === 1) {
    w.writeNBit(pos.index, bitsFor(n1));
    return;
  }
  w.writeNBit(t.first.length, bitsFor(n1));
  const n2 = t.second.length + (t.third.length > 0 ? 1 : 0);
  if (pos.level === 2) {
    w.writeNBit(pos.index, bitsFor(n2));
    return;
  }
  w.writeNBit(t.second.length, bitsFor(n2));
  w.writeNBit(pos.index, bitsFor(t.third.length));
}

export function readCode(r: BitReader, t: CodeTable): Term {
  const hasSecond = t.second.length > 0 || t.third.length > 0;
  const n1 = t.first.length + (hasSecond ? 1 : 0);
  const c1 = r.readNBit(bitsFor(n1));
  if (c1 < t.first.length) return t.first[c1] as Term;
  if (c1 !== t.first.length || !hasSecond) throw new ExiError(`invalid event code ${c1}`);
  const n2 = t.second.length + (t.third.length > 0 ? 1 : 0);
  const c2 = r.readNBit(bitsFor(n2));
  if (c2 < t.second.length) return t.second[c2] as Term;
  if (c2 !== t.second.length || t.third.length === 0) throw new ExiError(`invalid event code ${c1}.${c2}`);
  const c3 = r.readNBit(bitsFor(t.third.length));
  const term = t.third[c3];
  if (!term) throw new ExiError(`invalid event code ${c1}.${c2}.${c3}`);
  return term;
}

function table(first: readonly Term[], second: readonly Term[], third: readonly Term[]): CodeTable {
  return { first, second, third };
}

/** Built-in element grammar of one qualified name (§8.4.3), shared by all its occurrences. */
export class ElementGrammar {
  // Learned productions are the first-level productions of the tables (learned ones first, most recent
  // first; then EE in ElementContent). Tables are never changed: learning makes new ones.
  private stcHasEE = false;
  private stcHasCH = false;
  private ecHasCH = false;
  /** Productions learned by this grammar (MAX_LEARNED_PER_GRAMMAR). */
  private learned = 0;
  startTagContent: CodeTable;
  elementContent: CodeTable;

  constructor(
    private readonly fixed: FixedParts,
    private readonly owner?: LearningOwner,
  ) {
    this.startTagContent = fixed.stc0;
    this.elementContent = fixed.ec0;
  }

  /** Learn from a production matched through the generic (wildcard) production in StartTagContent. */
  learnStartTag(term: Term): void {
    if (term.kind === 'EE') {
      if (this.stcHasEE) return;
      this.recordUndo();
      this.stcHasEE = true;
    } else if (term.kind === 'CH') {
      if (this.stcHasCH) return;
      this.recordUndo();
      this.stcHasCH = true;
    } else this.recordUndo();
    this.countLearned();
    this.startTagContent = table(
      prepend(term, this.startTagContent.first),
      this.fixed.stcSecond,
      this.fixed.third,
    );
  }

  learnContent(term: Term): void {
    if (term.kind === 'CH') {
      if (this.ecHasCH) return;
      this.recordUndo();
      this.ecHasCH = true;
    } else this.recordUndo();
    this.countLearned();
    this.elementContent = table(
      prepend(term, this.elementContent.first),
      this.fixed.ecSecond,
      this.fixed.third,
    );
  }

  /**
   * Learning copies the state's productions (tables are never changed), so n productions learned by one grammar
   * cost n²/2 copies: bounded per grammar, and in total by the owner (maxLearnedProductions).
   */
  private countLearned(): void {
    if (++this.learned > MAX_LEARNED_PER_GRAMMAR) {
      throw new ExiLimitError(
        'maxLearnedProductions',
        `more than ${MAX_LEARNED_PER_GRAMMAR} productions learned by one element grammar`,
      );
    }
    this.owner?.learnedOne();
  }

  /** In an EXI session: how to get back to the current state (learning only ever adds). */
  private recordUndo(): void {
    const undo = this.owner?.undo;
    if (!undo) return;
    const { stcHasEE, stcHasCH, ecHasCH, startTagContent, elementContent, learned } = this;
    undo.push(() => {
      Object.assign(this, { stcHasEE, stcHasCH, ecHasCH, startTagContent, elementContent, learned });
    });
  }
}

interface FixedParts {
  stcSecond: readonly Term[];
  ecSecond: readonly Term[];
  third: readonly Term[];
  /** The tables of an element grammar that has learned nothing. */
  stc0: CodeTable;
  ec0: CodeTable;
}

function prepend(term: Term, list: readonly Term[]): Term[] {
  const out = new Array<Term>(list.length + 1);
  out[0] = term;
  for (let i = 0; i < list.length; i++) out[i + 1] = list[i] as Term;
  return out;
}

/** Productions one built-in element grammar may learn (see `countLearned`). */
export const MAX_LEARNED_PER_GRAMMAR = 4096;

interface LearningOwner {
  readonly undo: UndoLog | undefined;
  /** Counts one learned production against maxLearnedProductions. */
  learnedOne(): void;
}

/** All grammars of one EXI body. */
export class Grammars implements LearningOwner {
  /** Productions learned so far (a session's whole life), and how many may be. */
  private learned = 0;
  private readonly maxLearned: number;
  private readonly fixed: FixedParts;
  private readonly elements = new Map<string, ElementGrammar>();
  readonly docContent: CodeTable;
  readonly docEnd: CodeTable;
  private fragmentLearned: Term[] = [];
  fragmentContent: CodeTable;
  /**
   * Set by an EXI session (session.ts): learning records how to undo itself, so that a body that fails
   * half-way leaves the session's grammars as they were.
   */
  undo: UndoLog | undefined;

  constructor(opts: ResolvedOptions) {
    this.maxLearned = opts.limits.maxLearnedProductions;
    const p = opts.preserve;
    const third: Term[] = [];
    if (p.comments) third.push(Terms.CM);
    if (p.pis) third.push(Terms.PI);
    const stcSecond: Term[] = [Terms.EE, Terms.AT_ANY];
    if (p.prefixes) stcSecond.push(Terms.NS);
    if (opts.selfContained) stcSecond.push(Terms.SC);
    stcSecond.push(Terms.SE_ANY, Terms.CH);
    const ecSecond: Term[] = [Terms.SE_ANY, Terms.CH];
    if (p.dtd) {
      stcSecond.push(Terms.ER);
      ecSecond.push(Terms.ER);
    }
    this.fixed = {
      stcSecond,
      ecSecond,
      third,
      stc0: table([], stcSecond, third),
      ec0: table([Terms.EE], ecSecond, third),
    };
    this.docContent = table([Terms.SE_ANY], p.dtd ? [Terms.DT] : [], third);
    this.docEnd = table([Terms.ED], [], third);
    this.fragmentContent = table([Terms.SE_ANY, Terms.ED], [], third);
  }

  element(uri: string, localName: string, key = qnameKey(uri, localName)): ElementGrammar {
    let g = this.elements.get(key);
    if (!g) {
      g = new ElementGrammar(this.fixed, this);
      this.elements.set(key, g);
      this.undo?.push(() => this.elements.delete(key));
    }
    return g;
  }

  learnedOne(): void {
    if (++this.learned > this.maxLearned) {
      this.learned--;
      throw new ExiLimitError('maxLearnedProductions', `more than ${this.maxLearned} learned productions`);
    }
    this.undo?.push(() => this.learned--);
  }

  learnFragment(term: Term): void {
    if (this.fragmentLearned.length >= MAX_LEARNED_PER_GRAMMAR) {
      throw new ExiLimitError(
        'maxLearnedProductions',
        `more than ${MAX_LEARNED_PER_GRAMMAR} productions learned by the fragment grammar`,
      );
    }
    this.learnedOne();
    const { fragmentLearned, fragmentContent } = this;
    this.undo?.push(() => {
      fragmentLearned.shift();
      this.fragmentContent = fragmentContent;
    });
    this.fragmentLearned.unshift(term);
    this.fragmentContent = table([...this.fragmentLearned, Terms.SE_ANY, Terms.ED], [], this.fixed.third);
  }
}

export function learnedTerm(kind: 'SE' | 'AT', uri: string, localName: string, key: string): Term {
  return { kind, uri, localName, key };
}

/** An open element: its grammar, its qname key and whether its start tag is complete. */
export interface ElementFrame {
  readonly g: ElementGrammar;
  readonly key: string;
  inContent: boolean;
}

/**
 * The current position in the grammars of a body: the stack of open elements and the document
 * or fragment state. Shared by encoder and decoder, which must make the same transitions and
 * learn the same productions.
 */
export class GrammarStack<F extends ElementFrame> {
  private readonly stack: F[] = [];
  private docEnded = false;

  constructor(
    readonly grammars: Grammars,
    private readonly fragment: boolean,
  ) {}

  get top(): F | undefined {
    const n = this.stack.length;
    return n > 0 ? this.stack[n - 1] : undefined; // stack[-1] would be a slow property lookup
  }

  get depth(): number {
    return this.stack.length;
  }

  /** Whether a document's root element has been seen (always true for fragments). */
  get rootSeen(): boolean {
    return this.fragment || this.docEnded;
  }

  /** Code table of the current grammar state. */
  table(): CodeTable {
    const top = this.top;
    if (top) return top.inContent ? top.g.elementContent : top.g.startTagContent;
    if (this.fragment) return this.grammars.fragmentContent;
    return this.docEnded ? this.grammars.docEnd : this.grammars.docContent;
  }

  /** Learns SE(qname) after SE(*) matched in the current state (not in DocContent). */
  learnStartElement(term: Term): void {
    const top = this.top;
    if (top) {
      if (top.inContent) top.g.learnContent(term);
      else top.g.learnStartTag(term);
    } else if (this.fragment) {
      this.grammars.learnFragment(term);
    }
  }

  /** Learns CH after the generic CH production matched in the current element. */
  learnCharacters(): void {
    const top = this.top;
    if (top?.inContent) top.g.learnContent(Terms.CH);
    else top?.g.learnStartTag(Terms.CH);
  }

  /** Moves the current state past an SE event and opens the new element. */
  enter(frame: F): void {
    const top = this.top;
    if (top) top.inContent = true;
    else if (!this.fragment) this.docEnded = true;
    this.stack.push(frame);
  }

  /** Moves past CH, CM or PI inside an element: the start tag is complete. */
  content(): void {
    const top = this.top;
    if (top) top.inContent = true;
  }

  leave(): void {
    this.stack.pop();
  }
}
