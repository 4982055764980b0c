/** `xiot rules remove ID`: drop one of your rules (as `xiot rules list` numbers them). */
import { xml } from '@xmpp/client';
import { NS_RULES } from '../iot/provisioning-rules.js';
import { help, type Io, parse } from './session.js';
import { RULES_OPTIONS, withHub } from './rules.js';
import { EXIT, UsageError } from './usage.js';

export async function cmdRulesRemove(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, { hub: RULES_OPTIONS.hub, registry: RULES_OPTIONS.registry });
  if (args.values.help) return help(io, 'rules');
  const id = args.positionals[0]?.replace(/^#/, '');
  if (args.positionals.length !== 1 || !id || !/^\d+$/.test(id))
    throw new UsageError('rules remove needs one rule number (xiot rules list shows them)');
  return withHub(args.values, io, async (request) => {
    await request(xml('remove', { xmlns: NS_RULES, id }));
    io.stdout.write(
      args.values.json ? `${JSON.stringify({ removed: Number(id) })}\n` : `removed rule #${id}\n`,
    );
    return EXIT.ok;
  });
}
