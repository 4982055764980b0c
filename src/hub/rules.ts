/**
 * Which of an owner's rules decide a question, pure (no I/O): the provisioning server (provisioning-server.ts)
 * asks it, the table test in test/unit/provisioning-rules.test.ts pins it down.
 *
 * Precedence: the most specific matching rules decide. A rule for one JID beats one for its domain; then a rule
 * for the thing itself beats one for a tag. Among equally specific rules a deny wins, otherwise the allows merge
 * (the union of their narrowing, XEP-0324's "most permissive"). So "allow example.org, deny mallory@example.org"
 * and "deny example.org, allow alice@example.org" both mean what they say.
 */
import type { MetaTag } from '../iot/discovery.js';
import { type Decision, mostPermissive } from '../iot/provisioning.js';
import type { RuleAction, RuleInput } from '../iot/provisioning-rules.js';
import { bareOf } from '../xmpp/jid.js';

export interface ThingFacts {
  jid: string;
  tags: readonly MetaTag[];
}

const domainOf = (jid: string) => jid.slice(jid.indexOf('@') + 1);

/** 0 when `rule` does not apply to this requester and thing; else how specific it is (higher wins). */
export function specificity(rule: RuleInput, thing: ThingFacts, requester: string): number {
  const who = bareOf(requester);
  const byJid = rule.requester.includes('@');
  if (byJid ? rule.requester !== who : rule.requester !== who && rule.requester !== domainOf(who)) return 0;
  if (!appliesToThing(rule, thing)) return 0;
  return (byJid ? 20 : 10) + (rule.thing !== undefined ? 2 : 1);
}

/** Whether a rule's target (the thing itself, or a tag it has) covers this thing, whoever asks. */
export function appliesToThing(rule: Pick<RuleInput, 'thing' | 'tag'>, thing: ThingFacts): boolean {
  if (rule.thing !== undefined) return rule.thing === thing.jid;
  const tag = thing.tags.find((t) => t.name === rule.tag?.name);
  return tag !== undefined && sameValue(tag.value, rule.tag?.value ?? '');
}

/** Tag values compare as text; a num tag also numerically ("2" matches 2.0). */
function sameValue(value: string | number, wanted: string): boolean {
  if (typeof value === 'number') return wanted.trim() !== '' && Number(wanted) === value;
  return value === wanted;
}

/** The rules' decision on `action` (undefined: no rule applies, so the owner is asked). Narrowing as the rules say. */
export function ruleDecision(
  rules: readonly RuleInput[],
  thing: ThingFacts,
  requester: string,
  action: RuleAction,
): Decision | undefined {
  let best = 0;
  let winners: RuleInput[] = [];
  for (const r of rules) {
    if (r.action !== action) continue;
    const s = specificity(r, thing, requester);
    if (s === 0 || s < best) continue;
    if (s > best) {
      best = s;
      winners = [];
    }
    winners.push(r);
  }
  if (winners.length === 0) return undefined;
  if (winners.some((r) => !r.allow)) return { allowed: false };
  return mostPermissive(
    winners.map((r) => ({
      allowed: true,
      ...(r.nodes ? { nodes: r.nodes } : {}),
      ...(r.names ? { names: r.names } : {}),
    })),
  );
}

/**
 * A decision applied to what was asked (XEP-0324 §3.3): the answer lists what may be read or controlled of what
 * was asked (everything allowed when the question asked for everything). Nothing left → not allowed.
 */
export function answerFor(
  decision: Decision,
  asked: { nodes: readonly string[]; names: readonly string[] },
): Decision {
  if (!decision.allowed) return { allowed: false };
  const cut = (asking: readonly string[], allowed: string[] | undefined) =>
    allowed === undefined ? undefined : asking.length ? asking.filter((a) => allowed.includes(a)) : allowed;
  const nodes = cut(asked.nodes, decision.nodes);
  const names = cut(asked.names, decision.names);
  if (nodes?.length === 0 || names?.length === 0) return { allowed: false };
  return { allowed: true, ...(nodes ? { nodes } : {}), ...(names ? { names } : {}) };
}

/**
 * Friendship (a presence subscription) lets the friend receive everything the thing publishes (its PEP node has
 * the `presence` access model), so only an unrestricted read allowance makes a friend; undefined = no rule.
 */
export function friendDecision(rules: readonly RuleInput[], thing: ThingFacts, requester: string) {
  const read = ruleDecision(rules, thing, requester, 'read');
  if (read === undefined) return undefined;
  return read.allowed && read.nodes === undefined && read.names === undefined;
}
