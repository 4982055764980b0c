/**
 * Plantower PMS5003 particulate sensor (UART, 9600 8N1). Active mode sends 32-byte frames: `42 4D`, frame
 * length (28, big-endian), 13 data words, and a 16-bit checksum = sum of every byte before it (Plantower
 * PMS5003 manual v2.3, appendix I). Reported: the atmospheric-environment concentrations and particle counts.
 */
import { FrameError } from '../src/core/errors.js';
import {
  createFixedFrameSplitter,
  frameErrorsField,
  serialStreamSource,
  sum16,
  u16be,
} from '../src/sdk/frames.js';
import { defineDevice, type FieldSpec, v } from '../src/sdk/index.js';

const options = v.strictObject({
  port: v.optional(v.pipe(v.string(), v.minLength(1)), '/dev/serial0'),
  baudRate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 9600),
});

export const PMS5003_HEADER = [0x42, 0x4d] as const;

/** Total length from the frame-length word (bytes after it), or undefined until it has arrived. */
export function pms5003Length(head: Uint8Array): number | undefined {
  return head.length < 4 ? undefined : 4 + u16be(head, 2);
}

export function checkPms5003(frame: Uint8Array): string | undefined {
  if (frame.length !== 32) return `PMS5003 frame of ${frame.length} bytes (expected 32)`;
  if (sum16(frame, 0, 30) !== u16be(frame, 30)) return 'PMS5003 checksum mismatch';
  return undefined;
}

/** Data word N (1-based, as the datasheet numbers them). */
const word = (frame: Uint8Array, n: number) => u16be(frame, 2 + 2 * n);

export function decodePms5003(frame: Uint8Array): Record<string, number> {
  const problem = checkPms5003(frame);
  if (problem) throw new FrameError(problem);
  return {
    pm1: word(frame, 4),
    pm25: word(frame, 5),
    pm10: word(frame, 6),
    particles03: word(frame, 7),
    particles05: word(frame, 8),
    particles10: word(frame, 9),
    particles25: word(frame, 10),
    particles50: word(frame, 11),
    particles100: word(frame, 12),
  };
}

const mass = (name: string, description: string): FieldSpec => ({
  name,
  type: 'numeric',
  unit: 'µg/m³',
  decimals: 0,
  description,
});
const count = (name: string, size: string): FieldSpec => ({
  name,
  type: 'numeric',
  unit: '1/0.1L',
  decimals: 0,
  description: `Particles larger than ${size} µm in 0.1 L of air`,
});

export default defineDevice({
  type: 'pms5003',
  description: 'PMS5003 particulate matter sensor (PM1.0, PM2.5, PM10, particle counts)',
  options,
  fields: [
    mass('pm1', 'PM1.0 mass concentration (atmospheric environment)'),
    mass('pm25', 'PM2.5 mass concentration (atmospheric environment)'),
    mass('pm10', 'PM10 mass concentration (atmospheric environment)'),
    count('particles03', '0.3'),
    count('particles05', '0.5'),
    count('particles10', '1.0'),
    count('particles25', '2.5'),
    count('particles50', '5.0'),
    count('particles100', '10'),
    frameErrorsField,
  ],
  source: serialStreamSource({
    splitter: () =>
      createFixedFrameSplitter({
        header: PMS5003_HEADER,
        length: pms5003Length,
        maxLength: 64,
        check: checkPms5003,
      }),
    decoder: () => decodePms5003,
  }),
});
