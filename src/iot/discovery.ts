/**
 * XEP-0347 (IoT Discovery, thing registries) vocabulary: meta tags, search operators and the claim code, without
 * I/O (https://xmpp.org/extensions/xep-0347.html; iot-xeps.md §6). The registry is src/hub/registry.ts, the thing
 * side src/agent/registry-client.ts, the owner's `xiot claim` src/operator/commands.ts.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';

export const NS_DISCOVERY = 'urn:xmpp:iot:discovery';

export interface MetaTag {
  kind: 'str' | 'num';
  /** Upper case: names are case-insensitive (§3.5.1). */
  name: string;
  value: string | number;
}

/** §3.5.1: names at most 32 characters without ':' '#' or whitespace, string values at most 128. */
export const TAG_LIMITS = { nameLength: 32, valueLength: 128, count: 32 } as const;

/** The shared secret: never searchable, never returned (§3.5.2). */
export const KEY_TAG = 'KEY';

/** An xs:boolean attribute ('true'/'1', 'false'/'0'), or `fallback` when absent or malformed. */
export function xsBoolean(raw: unknown, fallback: boolean): boolean {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  return fallback;
}

/** A request the registry answers with `modify/bad-request` and this text. */
export class TagError extends Error {}

/** The tags of a register/mine/update element, checked against the limits; throws TagError. */
export function parseTags(el: Element, options: { allowEmpty?: boolean } = {}): MetaTag[] {
  const tags: MetaTag[] = [];
  const seen = new Set<string>();
  for (const child of el.getChildElements()) {
    if (child.name !== 'str' && child.name !== 'num') continue;
    const rawName = child.attrs.name as string | undefined;
    const rawValue = child.attrs.value as string | undefined;
    if (rawName === undefined || rawValue === undefined)
      throw new TagError(`a <${child.name}/> tag needs name and value`);
    const name = checkTagName(rawName);
    if (seen.has(name)) throw new TagError(`duplicate tag name "${name}"`);
    seen.add(name);
    if (child.name === 'str') {
      if (rawValue.length > TAG_LIMITS.valueLength)
        throw new TagError(`tag ${name}: values are at most ${TAG_LIMITS.valueLength} characters`);
      if (rawValue === '' && !options.allowEmpty) throw new TagError(`tag ${name}: empty value`);
      tags.push({ kind: 'str', name, value: rawValue });
    } else {
      const value = Number(rawValue.trim());
      if (rawValue.trim() === '' || !Number.isFinite(value))
        throw new TagError(`tag ${name}: "${rawValue.slice(0, 40)}" is not a number`);
      tags.push({ kind: 'num', name, value });
    }
    if (tags.length > TAG_LIMITS.count) throw new TagError(`at most ${TAG_LIMITS.count} tags`);
  }
  return tags;
}

export function checkTagName(raw: string): string {
  if (raw.length === 0) throw new TagError('a tag name is empty');
  if (raw.length > TAG_LIMITS.nameLength)
    throw new TagError(`tag name "${raw.slice(0, 40)}" is longer than ${TAG_LIMITS.nameLength} characters`);
  if (/[:#\s]/.test(raw)) throw new TagError(`tag name "${raw}" contains ':', '#' or whitespace`);
  return raw.toUpperCase();
}

export function tagElements(tags: readonly MetaTag[]): Element[] {
  return tags.map((t) => xml(t.kind, { name: t.name, value: String(t.value) }));
}

/** The same set of tags in one canonical text (order and name case do not matter), to find a claimed thing. */
export function canonicalTags(tags: readonly MetaTag[]): string {
  return JSON.stringify(
    [...tags].map((t) => [t.kind, t.name.toUpperCase(), String(t.value)]).sort((a, b) => cmp(a[1], b[1])),
  );
}

const cmp = (a: string | undefined, b: string | undefined) =>
  (a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0;

// Search (§3.8): every operator is a condition on one tag; all of them must hold.
export const STRING_OPERATORS = [
  'strEq',
  'strNEq',
  'strGt',
  'strGtEq',
  'strLt',
  'strLtEq',
  'strRange',
  'strNRange',
  'strMask',
] as const;
export const NUMBER_OPERATORS = [
  'numEq',
  'numNEq',
  'numGt',
  'numGtEq',
  'numLt',
  'numLtEq',
  'numRange',
  'numNRange',
] as const;
type Op = (typeof STRING_OPERATORS)[number] | (typeof NUMBER_OPERATORS)[number];

export interface SearchCondition {
  op: Op;
  name: string;
  value?: string | number;
  min?: string | number;
  max?: string | number;
  minIncluded?: boolean;
  maxIncluded?: boolean;
  wildcard?: string;
}

export interface SearchRequest {
  offset: number;
  maxCount: number;
  conditions: SearchCondition[];
}

/**
 * Parses `<search offset maxCount>operators</search>`; throws TagError. `maxCount` is capped at `cap`. Tolerant
 * where the schema is strict: no operator (the schema wants one) lists every public thing; `strMask` without
 * `wildcard` uses `*`.
 */
export function parseSearch(el: Element, cap = 100): SearchRequest {
  const int = (raw: unknown, fallback: number, what: string) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new TagError(`${what}: expected a non-negative integer`);
    return n;
  };
  const offset = int(el.attrs.offset, 0, 'offset');
  const asked = int(el.attrs.maxCount, cap, 'maxCount');
  if (asked === 0) throw new TagError('maxCount: expected a positive integer');
  const maxCount = Math.min(cap, asked);
  const conditions = el.getChildElements().map((c) => parseCondition(c));
  return { offset, maxCount, conditions };
}

function parseCondition(c: Element): SearchCondition {
  const op = c.name as Op;
  const isStr = (STRING_OPERATORS as readonly string[]).includes(op);
  const isNum = (NUMBER_OPERATORS as readonly string[]).includes(op);
  if (!isStr && !isNum) throw new TagError(`unknown search operator <${c.name}/>`);
  const name = checkTagName(String(c.attrs.name ?? ''));
  const value = (raw: unknown, what: string): string | number => {
    if (typeof raw !== 'string') throw new TagError(`<${op}/> needs ${what}`);
    if (isStr) return raw;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new TagError(`<${op}/> ${what}: not a number`);
    return n;
  };
  const bool = (raw: unknown) => xsBoolean(raw, true);
  if (op.endsWith('Range')) {
    return {
      op,
      name,
      min: value(c.attrs.min, 'min'),
      max: value(c.attrs.max, 'max'),
      minIncluded: bool(c.attrs.minIncluded),
      maxIncluded: bool(c.attrs.maxIncluded),
    };
  }
  return {
    op,
    name,
    value: value(c.attrs.value, 'value'),
    ...(op === 'strMask' ? { wildcard: String(c.attrs.wildcard ?? '*') || '*' } : {}),
  };
}

/** Does this set of tags satisfy the condition? A thing without the tag (or of the other kind) does not. */
export function matches(condition: SearchCondition, tags: readonly MetaTag[]): boolean {
  const { op } = condition;
  const kind = op.startsWith('str') ? 'str' : 'num';
  const tag = tags.find((t) => t.name === condition.name && t.kind === kind);
  if (!tag) return false;
  const v = tag.value;
  const c = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
  const inRange = () => {
    const lo = c(v, condition.min as string | number);
    const hi = c(v, condition.max as string | number);
    return (condition.minIncluded ? lo >= 0 : lo > 0) && (condition.maxIncluded ? hi <= 0 : hi < 0);
  };
  const x = condition.value as string | number;
  switch (op.slice(3)) {
    case 'Eq':
      return c(v, x) === 0;
    case 'NEq':
      return c(v, x) !== 0;
    case 'Gt':
      return c(v, x) > 0;
    case 'GtEq':
      return c(v, x) >= 0;
    case 'Lt':
      return c(v, x) < 0;
    case 'LtEq':
      return c(v, x) <= 0;
    case 'Range':
      return inRange();
    case 'NRange':
      return !inRange();
    case 'Mask':
      return maskRegExp(String(x), condition.wildcard ?? '*').test(String(v));
  }
  return false;
}

function maskRegExp(mask: string, wildcard: string): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${mask.split(wildcard).map(escape).join('.*')}$`, 's');
}

/**
 * The claim code (§3.6): `IoTDisco;NAME:value;#NUM:1.5` with ';' and '\' escaped by '\', and the `iotdisco:`
 * URI many apps scan (`iotdisco:NAME=value;#NUM=1.5;R=registry`), which also names the registry.
 */
export interface ClaimCode {
  tags: MetaTag[];
  registry?: string;
}

const esc = (s: string) => s.replace(/[\\;]/g, (m) => `\\${m}`);

export function formatClaimCode(code: ClaimCode): { text: string; uri: string } {
  const part = (t: MetaTag, sep: string) =>
    `${t.kind === 'num' ? '#' : ''}${t.name}${sep}${esc(String(t.value))}`;
  return {
    text: ['IoTDisco', ...code.tags.map((t) => part(t, ':'))].join(';'),
    uri: `iotdisco:${[...code.tags.map((t) => part(t, '=')), ...(code.registry ? [`R=${esc(code.registry)}`] : [])].join(';')}`,
  };
}

/** Parses either form; throws TagError naming what is wrong. */
export function parseClaimCode(input: string): ClaimCode {
  const s = input.trim();
  let body: string;
  let sep: string;
  if (/^iotdisco:/i.test(s)) {
    body = s.slice('iotdisco:'.length);
    sep = '=';
  } else if (/^iotdisco;/i.test(s)) {
    body = s.slice('IoTDisco;'.length);
    sep = ':';
  } else throw new TagError('a claim code starts with "IoTDisco;" or "iotdisco:"');
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch === '\\' && i + 1 < body.length) current += body[++i];
    else if (ch === ';') {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  const tags: MetaTag[] = [];
  let registry: string | undefined;
  const seen = new Set<string>();
  for (const p of parts.filter((x) => x !== '')) {
    const at = p.indexOf(sep);
    if (at <= 0) throw new TagError(`"${p.slice(0, 40)}" is not NAME${sep}value`);
    const rawName = p.slice(0, at);
    const value = p.slice(at + 1);
    if (sep === '=' && rawName.toUpperCase() === 'R') {
      registry = value;
      continue;
    }
    const num = rawName.startsWith('#');
    const name = checkTagName(num ? rawName.slice(1) : rawName);
    if (seen.has(name)) throw new TagError(`duplicate tag name "${name}"`);
    seen.add(name);
    if (num) {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n))
        throw new TagError(`#${name}: "${value}" is not a number`);
      tags.push({ kind: 'num', name, value: n });
    } else tags.push({ kind: 'str', name, value });
  }
  if (tags.length === 0) throw new TagError('the claim code has no tags');
  return { tags, ...(registry ? { registry } : {}) };
}
