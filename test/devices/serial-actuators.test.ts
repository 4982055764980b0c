import { describe, expect, it } from 'vitest';
import { encodeCommands } from '../../devices/line_serial.js';
import { MHZ19_ZERO_CALIBRATION, mhz19Abc } from '../../devices/mhz19.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('serial actuator commands', () => {
  it('MH-Z19: ABC on/off and zero calibration frames match the datasheet', () => {
    expect(hex(mhz19Abc(true))).toBe('ff0179a0000000 00e6'.replace(' ', ''));
    expect(hex(mhz19Abc(false))).toBe('ff017900000000 0086'.replace(' ', ''));
    expect(hex(MHZ19_ZERO_CALIBRATION)).toBe('ff018700000000 0078'.replace(' ', ''));
  });

  it('line_serial: templates with {value}, booleans as 1/0, in parameter order', () => {
    const commands = {
      relay: { type: 'boolean' as const, template: 'RELAY {value}\n' },
      speed: { type: 'int' as const, template: 'FAN {value}\r\n' },
    };
    const out = encodeCommands({ commands }, { speed: 3, relay: true }).map((b) => Buffer.from(b).toString());
    expect(out).toEqual(['FAN 3\r\n', 'RELAY 1\n']);
  });
});
