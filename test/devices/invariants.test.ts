import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { VALUE_TYPES } from '../../src/model/fields.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('every device definition', () => {
  it('has a unique type', () => {
    const types = builtinDevices.map((d) => d.type);
    expect(new Set(types).size).toBe(types.length);
  });

  for (const device of builtinDevices) {
    describe(device.type, () => {
      const fields = Array.isArray(device.fields) ? device.fields : [];

      it('declares fields with a known value type, a description, and a unit on every numeric field', () => {
        expect(fields.length).toBeGreaterThan(0);
        for (const f of fields) {
          expect(VALUE_TYPES).toContain(f.type);
          expect(f.description.length).toBeGreaterThan(0);
          if (f.type === 'numeric')
            expect(typeof f.unit, `${device.type}.${f.name} needs a unit ('' if none)`).toBe('string');
        }
        expect(new Set(fields.map((f) => f.name)).size).toBe(fields.length);
      });

      it('has a row in the README device table', () => {
        expect(README).toMatch(new RegExp(`^\\| \`${device.type}\` \\|`, 'm'));
      });

      it('accepts an empty option set or says which option is required', () => {
        const parsed = device.options.safeParse({});
        if (!parsed.success) expect(parsed.error.issues.length).toBeGreaterThan(0);
      });
    });
  }
});
