/**
 * `xiot rules list | allow | deny | remove`: the owner's XEP-0324 provisioning rules at the hub. One file per
 * subcommand (rules-list.ts, rules-allow.ts, rules-deny.ts, rules-remove.ts); this one dispatches and holds what
 * they share. The wire protocol is the hub's own IQ namespace (src/iot/provisioning-rules.ts), not its ad-hoc
 * commands: a program wants one request and one typed answer, not a session of forms written for people.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import {
  type Rule,
  RULE_ACTIONS,
  type RuleAction,
  ruleElement,
  type RuleInput,
} from '../iot/provisioning-rules.js';
import { describeRule, NS_RULES, parseTagCondition, RuleError } from '../iot/provisioning-rules.js';
import { connect, duration, type Io, parse } from './session.js';
import { EXIT, UsageError } from './usage.js';

export const RULES_OPTIONS = {
  hub: { type: 'string' },
  registry: { type: 'string' },
  tag: { type: 'string' },
  read: { type: 'boolean' },
  control: { type: 'boolean' },
  node: { type: 'string', multiple: true },
  field: { type: 'string', multiple: true },
  parameter: { type: 'string', multiple: true },
} as const;

export type RulesArgs = ReturnType<typeof parse<typeof RULES_OPTIONS>>;

/** The hub: --hub, --registry, XIOT_HUB or XIOT_REGISTRY (the registry and the provisioning server are one). */
export function hubOf(values: { hub?: string; registry?: string }, io: Io): string {
  const hub = values.hub ?? values.registry ?? io.env.XIOT_HUB ?? io.env.XIOT_REGISTRY;
  if (!hub) throw new UsageError('rules needs --hub JID (or XIOT_HUB), the hub that registered your things');
  return hub;
}

/** `THING REQUESTER` or `--tag NAME=VALUE REQUESTER`, with the actions and narrowing flags, as rule inputs. */
export function rulesFromArgs(args: RulesArgs, allow: boolean, defaultActions: RuleAction[]): RuleInput[] {
  const { values, positionals } = args;
  const want = values.tag === undefined ? 2 : 1;
  if (positionals.length !== want)
    throw new UsageError(
      `expected ${values.tag === undefined ? 'THING REQUESTER' : '--tag NAME=VALUE REQUESTER'} (xiot rules --help)`,
    );
  const chosen = RULE_ACTIONS.filter((a) => values[a]);
  const actions = chosen.length ? chosen : defaultActions;
  if (!allow && (values.node || values.field || values.parameter))
    throw new UsageError('--node, --field and --parameter narrow an allow; a deny is for everything');
  if (values.field && !actions.includes('read')) throw new UsageError('--field narrows --read');
  if (values.parameter && !actions.includes('control')) throw new UsageError('--parameter narrows --control');
  try {
    const target =
      values.tag === undefined ? { thing: positionals[0] as string } : { tag: parseTagCondition(values.tag) };
    return actions.map((action) => ({
      ...target,
      requester: positionals[want - 1] as string,
      action,
      allow,
      ...(values.node ? { nodes: values.node } : {}),
      ...((action === 'read' ? values.field : values.parameter)
        ? { names: (action === 'read' ? values.field : values.parameter) as string[] }
        : {}),
    }));
  } catch (err) {
    if (err instanceof RuleError) throw new UsageError(err.message);
    throw err;
  }
}

/** Sends requests to the hub in one session; a refusal is printed with the hub's text (exit 1). */
export async function withHub(
  values: RulesArgs['values'],
  io: Io,
  run: (request: (payload: Element, type?: 'get' | 'set') => Promise<Element>) => Promise<number>,
): Promise<number> {
  const hub = hubOf(values, io);
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs);
  try {
    return await run((payload, type = 'set') =>
      session.transport.request(xml('iq', { type, to: hub }, payload), timeoutMs),
    );
  } catch (err) {
    const e = err as { condition?: string; message: string };
    if (e.condition === 'service-unavailable' || e.condition === 'feature-not-implemented') {
      io.stderr.write(`xiot: ${hub} is not a hub with provisioning rules (${e.condition})\n`);
      return EXIT.failed;
    }
    if (e.condition) {
      io.stderr.write(`xiot: ${hub} refused: ${e.message}\n`);
      return EXIT.failed;
    }
    throw err;
  } finally {
    await session.close();
  }
}

/** Adds rules (allow or deny) and prints them as the hub stored them. */
export async function addRules(args: RulesArgs, io: Io, rules: RuleInput[]): Promise<number> {
  return withHub(args.values, io, async (request) => {
    const added: Rule[] = [];
    for (const rule of rules) {
      const answer = await request(ruleElement(rule));
      added.push(ruleOf(answer.getChild('rule', NS_RULES) as Element));
    }
    if (args.values.json) io.stdout.write(`${JSON.stringify({ rules: added })}\n`);
    else for (const r of added) io.stdout.write(`rule #${r.id}: ${describeRule(r)}\n`);
    return EXIT.ok;
  });
}

/** A rule from the hub's answer (already checked by the hub: read as it is). */
export function ruleOf(el: Element): Rule {
  const a = el.attrs as Record<string, string>;
  const action = a.action as RuleAction;
  const at = a.tag?.indexOf('=') ?? -1;
  const names = el.getChildren(action === 'read' ? 'field' : 'parameter').map((n) => n.attrs.name as string);
  const nodes = el.getChildren('node').map((n) => n.attrs.nodeId as string);
  return {
    id: Number(a.id),
    owner: a.owner as string,
    ...(a.thing ? { thing: a.thing } : {}),
    ...(a.tag ? { tag: { name: a.tag.slice(0, at), value: a.tag.slice(at + 1) } } : {}),
    requester: a.requester as string,
    action,
    allow: a.effect === 'allow',
    ...(nodes.length ? { nodes } : {}),
    ...(names.length ? { names } : {}),
  };
}

const SUBCOMMANDS: Record<string, () => Promise<(argv: string[], io: Io) => Promise<number>>> = {
  list: async () => (await import('./rules-list.js')).cmdRulesList,
  allow: async () => (await import('./rules-allow.js')).cmdRulesAllow,
  deny: async () => (await import('./rules-deny.js')).cmdRulesDeny,
  remove: async () => (await import('./rules-remove.js')).cmdRulesRemove,
};

/** `xiot rules SUBCOMMAND ...` */
export async function cmdRules(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout.write(`${(await import('./usage.js')).OPERATOR_COMMAND_HELP.rules}\n`);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  const load = SUBCOMMANDS[sub];
  if (!load) throw new UsageError(`rules: unknown subcommand "${sub}" (list, allow, deny or remove)`);
  return (await load())(rest, io);
}
