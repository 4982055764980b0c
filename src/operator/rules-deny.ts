/** `xiot rules deny`: refuse someone (or a domain) a thing of yours, or your things with a tag. */
import { help, type Io, parse } from './session.js';
import { addRules, RULES_OPTIONS, rulesFromArgs } from './rules.js';

export async function cmdRulesDeny(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, RULES_OPTIONS);
  if (args.values.help) return help(io, 'rules');
  // Refusing is for everything unless narrowed to --read or --control.
  return addRules(args, io, rulesFromArgs(args, false, ['read', 'control']));
}
