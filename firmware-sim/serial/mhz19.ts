/**
 * MH-Z19 answering "read CO₂" requests (`FF 01 86 … 79`) with `FF 86 HH LL TT …` (see devices/mhz19.ts).
 * Any other complete 9-byte command is consumed without an answer, as the sensor does for unknown commands.
 */
import { type Scenario, type SerialSim, startSerialSim, type WireProtocol } from './sim.js';

export interface Mhz19Values {
  /** ppm */
  co2: number;
  /** °C (sent as T + 40) */
  temperature?: number;
}

const checksum = (frame: Uint8Array) => {
  let sum = 0;
  for (let i = 1; i < 8; i++) sum += frame[i] as number;
  return (0x100 - (sum & 0xff)) & 0xff;
};

export function encodeMhz19(values: Mhz19Values): Uint8Array {
  const co2 = Math.max(0, Math.min(0xffff, Math.round(values.co2)));
  const frame = Uint8Array.from([
    0xff,
    0x86,
    co2 >> 8,
    co2 & 0xff,
    Math.max(0, Math.min(255, Math.round((values.temperature ?? 22) + 40))),
    0,
    0,
    0,
    0,
  ]);
  frame[8] = checksum(frame);
  return frame;
}

export const mhz19Protocol: WireProtocol<Mhz19Values> = {
  encode: encodeMhz19,
  corrupt(frame) {
    const bad = frame.slice();
    bad[8] = ((bad[8] as number) + 1) & 0xff;
    return bad;
  },
  answer(pending) {
    const start = pending.indexOf(0xff);
    if (start < 0) return pending.length ? { consumed: pending.length, respond: false } : undefined;
    if (pending.length - start < 9) return start > 0 ? { consumed: start, respond: false } : undefined;
    const request = pending.subarray(start, start + 9);
    const valid = request[1] === 0x01 && checksum(request) === request[8];
    return { consumed: start + 9, respond: valid && request[2] === 0x86 };
  },
};

export function startMhz19Sim(options: {
  dir: string;
  name?: string;
  scenario: Scenario<Mhz19Values>;
}): Promise<SerialSim> {
  return startSerialSim(mhz19Protocol, options);
}
