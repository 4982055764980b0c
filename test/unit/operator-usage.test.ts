import { describe, expect, it } from 'vitest';
import { OPERATOR_COMMANDS, runOperatorCommand } from '../../src/operator/commands.js';
import { OPERATOR_COMMAND_NAMES, OPERATOR_HELP } from '../../src/operator/usage.js';

describe('operator command names (the CLI dispatches on them without loading the commands)', () => {
  it('are exactly the implemented commands, each in the help text', () => {
    expect(Object.keys(OPERATOR_COMMANDS).sort()).toEqual([...OPERATOR_COMMAND_NAMES].sort());
    for (const name of OPERATOR_COMMAND_NAMES) expect(OPERATOR_HELP).toContain(`xiot ${name}`);
  });
});

describe('per-command --help', () => {
  const helpOf = async (name: string): Promise<string> => {
    let out = '';
    const io = {
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: () => true },
      env: {},
    } as unknown as Parameters<typeof runOperatorCommand>[2];
    expect(await runOperatorCommand(name, ['--help'], io)).toBe(0);
    return out;
  };

  it("prints that command's usage and its own options, not the others'", async () => {
    const own: Record<string, string[]> = {
      read: ['--node', '--field', '--types', '--historical'],
      set: ['--node', '--message'],
      form: ['--node'],
      watch: ['--for'],
      devices: [],
      rules: ['--node', '--field'],
    };
    const all = [...new Set(Object.values(own).flat())];
    for (const name of OPERATOR_COMMAND_NAMES) {
      const text = await helpOf(name);
      expect(text, name).toMatch(new RegExp(`^Usage: xiot ${name} `));
      for (const option of all) {
        if (own[name]?.includes(option)) expect(text, `${name} ${option}`).toContain(`  ${option}`);
        else expect(text, `${name} ${option}`).not.toContain(`  ${option} `);
      }
      expect(text).toContain('--jid USER@DOMAIN'); // the common options
    }
  });
});
