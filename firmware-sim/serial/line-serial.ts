/** An Arduino-style board printing `name=value` lines (see devices/line_serial.ts). */
import { type Scenario, type SerialSim, startSerialSim, type WireProtocol } from './sim.js';

export type LineValues = Record<string, number | boolean | string>;

export function encodeLine(values: LineValues, separator: ' ' | ',' = ' '): Uint8Array {
  const text = Object.entries(values)
    .map(([k, v]) => `${k}=${typeof v === 'boolean' ? (v ? 1 : 0) : v}`)
    .join(separator);
  return Buffer.from(`${text}\r\n`, 'latin1');
}

export const lineSerialProtocol: WireProtocol<LineValues> = {
  encode: (v) => encodeLine(v),
  // Text has no checksum; line noise that eats the '=' signs is the closest thing to a bad frame.
  corrupt: (frame) => Buffer.from(Buffer.from(frame).toString('latin1').replaceAll('=', '~'), 'latin1'),
  garbage: Buffer.from('\x00\xff#!\r\n', 'latin1'), // boot noise: a line that carries nothing
};

export function startLineSerialSim(options: {
  dir: string;
  name?: string;
  scenario: Scenario<LineValues>;
}): Promise<SerialSim> {
  return startSerialSim(lineSerialProtocol, { ...options, defaultIntervalMs: 1000 });
}
