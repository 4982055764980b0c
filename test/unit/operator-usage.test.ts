import { describe, expect, it } from 'vitest';
import { OPERATOR_COMMANDS } from '../../src/operator/commands.js';
import { OPERATOR_COMMAND_NAMES, OPERATOR_HELP } from '../../src/operator/usage.js';

describe('operator command names (the CLI dispatches on them without loading the commands)', () => {
  it('are exactly the implemented commands, each in the help text', () => {
    expect(Object.keys(OPERATOR_COMMANDS).sort()).toEqual([...OPERATOR_COMMAND_NAMES].sort());
    for (const name of OPERATOR_COMMAND_NAMES) expect(OPERATOR_HELP).toContain(`xiot ${name}`);
  });
});
