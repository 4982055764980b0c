/** `xiot rules list`: your provisioning rules at the hub. */
import { xml } from '@xmpp/client';
import { describeRule, NS_RULES } from '../iot/provisioning-rules.js';
import { help, type Io, parse } from './session.js';
import { RULES_OPTIONS, ruleOf, withHub } from './rules.js';
import { formatTable } from './table.js';
import { EXIT, UsageError } from './usage.js';

export async function cmdRulesList(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, { hub: RULES_OPTIONS.hub, registry: RULES_OPTIONS.registry });
  if (args.values.help) return help(io, 'rules');
  if (args.positionals.length) throw new UsageError('rules list takes no positional arguments');
  return withHub(args.values, io, async (request) => {
    const answer = await request(xml('rules', { xmlns: NS_RULES }), 'get');
    const rules = (answer.getChild('rules', NS_RULES)?.getChildren('rule') ?? []).map(ruleOf);
    if (args.values.json) io.stdout.write(`${JSON.stringify({ rules })}\n`);
    else
      io.stdout.write(
        formatTable(
          rules.map((r) => ({ id: `#${r.id}`, rule: describeRule(r) })),
          ['id', 'rule'],
        ),
      );
    return EXIT.ok;
  });
}
