/** `xiot rules allow`: let someone (or a domain) read or control a thing of yours, or your things with a tag. */
import { help, type Io, parse } from './session.js';
import { addRules, RULES_OPTIONS, rulesFromArgs } from './rules.js';

export async function cmdRulesAllow(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, RULES_OPTIONS);
  if (args.values.help) return help(io, 'rules');
  // Least privilege: reading only, unless --control is asked for.
  return addRules(args, io, rulesFromArgs(args, true, ['read']));
}
