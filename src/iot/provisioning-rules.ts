/**
 * The owners' provisioning rules (who may read or control which things) and their wire form between `xiot rules`
 * and the hub: a small IQ namespace of ours, `urn:xmpp-iot:provisioning-rules:0`, without I/O. XEP-0324 defines
 * what a thing asks a provisioning server, not how an owner tells the server its wishes, so this is ours:
 *
 *   get  <rules xmlns='urn:xmpp-iot:provisioning-rules:0'/>            → <rules><rule id owner …/>…</rules> (yours)
 *   set  <rule xmlns=… thing|tag requester action effect><node/><name/></rule>   → <rule id …/> (added or replaced)
 *   set  <remove xmlns=… id='7'/>                                     → empty result; item-not-found if not yours
 *
 * The hub's ad-hoc commands (src/hub/hub-commands.ts) offer the same to any XMPP client; both call the same
 * provisioning server functions.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { checkTagName, KEY_TAG, TAG_LIMITS, TagError } from './discovery.js';

export const NS_RULES = 'urn:xmpp-iot:provisioning-rules:0';

export type RuleAction = 'read' | 'control';
export const RULE_ACTIONS: readonly RuleAction[] = ['read', 'control'];

/** What an owner asks for: one action, for one thing (or the owner's things with a tag), for one JID or domain. */
export interface RuleInput {
  /** A thing's bare JID; exactly one of thing and tag. */
  thing?: string;
  /** Every thing of the owner with this meta tag (name upper case, value compared as text). */
  tag?: { name: string; value: string };
  /** A bare JID (`guest@example.org`) or a whole domain (`example.org`). */
  requester: string;
  action: RuleAction;
  allow: boolean;
  /** Allow only these nodes (devices); undefined = every node. Meaningless for deny. */
  nodes?: string[];
  /** Allow only these fields (read) or parameters (control); undefined = all. */
  names?: string[];
}

export interface Rule extends RuleInput {
  id: number;
  owner: string;
}

/** Bounds on one rule, so a rule cannot grow the store without limit. */
export const RULE_LIMITS = { listLength: 64, nameLength: 128 } as const;

export class RuleError extends Error {}

const JID_OR_DOMAIN = /^([^@/\s"'<>&]{1,1023}@)?[^@/\s"'<>&]{1,1023}$/;

/** A requester as rules store it: a bare JID or a domain, lower case; throws RuleError. */
export function checkRequester(raw: string): string {
  const value = raw.trim().toLowerCase();
  if (!JID_OR_DOMAIN.test(value) || value.length > 2047)
    throw new RuleError(
      `requester "${raw.slice(0, 64)}": expected a bare JID (guest@example.org) or a domain`,
    );
  return value;
}

/** `NAME=VALUE` (as `xiot rules` and the ad-hoc form take it) → a tag condition; throws RuleError. */
export function parseTagCondition(raw: string): { name: string; value: string } {
  const at = raw.indexOf('=');
  if (at <= 0) throw new RuleError(`tag "${raw.slice(0, 64)}": expected NAME=VALUE`);
  let name: string;
  try {
    name = checkTagName(raw.slice(0, at).replace(/^#/, ''));
  } catch (err) {
    throw new RuleError((err as TagError).message);
  }
  if (name === KEY_TAG) throw new RuleError('KEY is a secret: rules cannot name it');
  const value = raw.slice(at + 1);
  if (value === '' || value.length > TAG_LIMITS.valueLength)
    throw new RuleError(`tag ${name}: expected a value of 1 to ${TAG_LIMITS.valueLength} characters`);
  return { name, value };
}

function checkList(what: string, list: readonly string[]): string[] {
  if (list.length > RULE_LIMITS.listLength) throw new RuleError(`at most ${RULE_LIMITS.listLength} ${what}`);
  for (const item of list)
    if (item === '' || item.length > RULE_LIMITS.nameLength)
      throw new RuleError(`${what}: names of 1 to ${RULE_LIMITS.nameLength} characters`);
  return [...new Set(list)];
}

/** Checks and normalises a rule from any front end (wire, ad-hoc form, CLI); throws RuleError. */
export function checkRule(input: RuleInput): RuleInput {
  if ((input.thing === undefined) === (input.tag === undefined))
    throw new RuleError('a rule names either a thing (JID) or a tag (NAME=VALUE)');
  if (!RULE_ACTIONS.includes(input.action)) throw new RuleError('action: expected read or control');
  const thing = input.thing === undefined ? undefined : checkRequester(input.thing);
  if (thing !== undefined && !thing.includes('@'))
    throw new RuleError(`thing "${thing}": expected a bare JID`);
  const tag = input.tag && parseTagCondition(`${input.tag.name}=${input.tag.value}`);
  const nodes = input.allow && input.nodes?.length ? checkList('nodes', input.nodes) : undefined;
  const names = input.allow && input.names?.length ? checkList('names', input.names) : undefined;
  return {
    ...(thing ? { thing } : {}),
    ...(tag ? { tag } : {}),
    requester: checkRequester(input.requester),
    action: input.action,
    allow: input.allow,
    ...(nodes ? { nodes } : {}),
    ...(names ? { names } : {}),
  };
}

/** The child element naming what a rule narrows to: `field` for read, `parameter` for control (as in XEP-0324). */
export const nameElement = (action: RuleAction) => (action === 'read' ? 'field' : 'parameter');

export function ruleElement(rule: RuleInput | Rule): Element {
  const r = rule as Partial<Rule> & RuleInput;
  return xml(
    'rule',
    {
      xmlns: NS_RULES,
      ...(r.id !== undefined ? { id: String(r.id) } : {}),
      ...(r.owner ? { owner: r.owner } : {}),
      ...(r.thing ? { thing: r.thing } : {}),
      ...(r.tag ? { tag: `${r.tag.name}=${r.tag.value}` } : {}),
      requester: r.requester,
      action: r.action,
      effect: r.allow ? 'allow' : 'deny',
    },
    ...(r.nodes ?? []).map((nodeId) => xml('node', { nodeId })),
    ...(r.names ?? []).map((name) => xml(nameElement(r.action), { name })),
  );
}

/** A `<rule/>` from the wire; throws RuleError (the hub answers bad-request with its text). */
export function parseRuleElement(el: Element): RuleInput {
  const a = el.attrs as Record<string, string | undefined>;
  const action = a.action as RuleAction;
  if (a.effect !== 'allow' && a.effect !== 'deny') throw new RuleError('effect: expected allow or deny');
  if (!a.requester) throw new RuleError('a rule needs requester');
  const children = el.getChildElements();
  if (children.length > 2 * RULE_LIMITS.listLength) throw new RuleError('too many nodes and names');
  return checkRule({
    ...(a.thing !== undefined ? { thing: a.thing } : {}),
    ...(a.tag !== undefined ? { tag: parseTagCondition(a.tag) } : {}),
    requester: a.requester,
    action,
    allow: a.effect === 'allow',
    nodes: el.getChildren('node').map((n) => String(n.attrs.nodeId ?? '')),
    names: RULE_ACTIONS.includes(action)
      ? el.getChildren(nameElement(action)).map((n) => String(n.attrs.name ?? ''))
      : [],
  });
}

/** A rule as `xiot rules list` and the hub's chat and commands show it. */
export function describeRule(r: RuleInput): string {
  const target = r.thing ?? `things with ${r.tag?.name}=${r.tag?.value}`;
  const scope = [
    r.nodes ? `nodes ${r.nodes.join(', ')}` : '',
    r.names ? `${r.action === 'read' ? 'fields' : 'parameters'} ${r.names.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return `${r.allow ? 'allow' : 'deny'} ${r.requester} to ${r.action} ${target}${scope ? ` (only ${scope})` : ''}`;
}
