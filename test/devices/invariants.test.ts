import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { VALUE_TYPES } from '../../src/model/fields.js';
import type { FieldSpec } from '../../src/sdk/index.js';
import { parseOptions, validate } from '../../src/sdk/options.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const root = (p: string) => new URL(`../../${p}`, import.meta.url);

/** Where each type's simulated hardware lives (firmware-sim/), and its tests with golden cases. */
const SIMULATOR: Record<string, string> = {
  system: 'test/unit/runner.test.ts', // a simulated /proc tree in the test itself; real /proc elsewhere
  gpio_input: 'firmware-sim/gpio/simulator.ts',
  gpio_output: 'firmware-sim/gpio/simulator.ts',
  ds18b20: 'firmware-sim/onewire.ts',
  sds011: 'firmware-sim/serial/sds011.ts',
  pms5003: 'firmware-sim/serial/pms5003.ts',
  mhz19: 'firmware-sim/serial/mhz19.ts',
  nmea_gps: 'firmware-sim/serial/nmea-gps.ts',
  line_serial: 'firmware-sim/serial/line-serial.ts',
};
const FIXTURES: Record<string, string> = {
  system: 'test/unit/runner.test.ts',
  gpio_input: 'test/devices/gpio.test.ts',
  gpio_output: 'test/devices/gpio.test.ts',
  ds18b20: 'test/devices/ds18b20.test.ts',
};

describe('every device definition', () => {
  it('has a unique type', () => {
    const types = builtinDevices.map((d) => d.type);
    expect(new Set(types).size).toBe(types.length);
  });

  for (const device of builtinDevices) {
    describe(device.type, () => {
      const fields = (): FieldSpec[] => {
        if (Array.isArray(device.fields)) return device.fields;
        expect(device.example, 'fields depend on options: the definition needs an example').toBeDefined();
        return device.fields(parseOptions(device.options, device.example));
      };

      it('declares fields with a known value type, a description, and a unit on every numeric field', () => {
        const list = fields();
        expect(list.length).toBeGreaterThan(0);
        for (const f of list) {
          expect(VALUE_TYPES).toContain(f.type);
          expect(f.description.length).toBeGreaterThan(0);
          if (f.type === 'numeric')
            expect(typeof f.unit, `${device.type}.${f.name} needs a unit ('' if none)`).toBe('string');
        }
        expect(new Set(list.map((f) => f.name)).size).toBe(list.length);
      });

      it('has a row in the README device table', () => {
        expect(README).toMatch(new RegExp(`^\\| \`${device.type}\` +\\|`, 'm'));
      });

      it('has a simulator and golden cases', () => {
        const sim = SIMULATOR[device.type];
        expect(sim, `add ${device.type} to SIMULATOR with its firmware-sim file`).toBeDefined();
        expect(existsSync(root(sim as string)), `${sim} exists`).toBe(true);
        const fixtures = FIXTURES[device.type] ?? `test/devices/fixtures/${device.type}`;
        expect(existsSync(root(fixtures)), `${fixtures} exists`).toBe(true);
      });

      it('validates its example options', () => {
        if (device.example) expect(validate(device.options, device.example).ok).toBe(true);
      });
    });
  }
});
