/** PMS5003 in active mode: a 32-byte `42 4D` frame about every second (see devices/pms5003.ts). */
import { type Scenario, type SerialSim, startSerialSim, type WireProtocol } from './sim.js';

export interface Pms5003Values {
  /** Atmospheric-environment concentrations, µg/m³. */
  pm1: number;
  pm25: number;
  pm10: number;
  /** Particles per 0.1 L larger than 0.3, 0.5, 1.0, 2.5, 5.0, 10 µm (default: derived from pm25). */
  counts?: [number, number, number, number, number, number];
}

export function encodePms5003(values: Pms5003Values): Uint8Array {
  const frame = new Uint8Array(32);
  const put = (at: number, v: number) => {
    const w = Math.max(0, Math.min(0xffff, Math.round(v)));
    frame[at] = w >> 8;
    frame[at + 1] = w & 0xff;
  };
  frame[0] = 0x42;
  frame[1] = 0x4d;
  put(2, 28);
  // Words 1–3: "CF=1, standard particle" concentrations; words 4–6: atmospheric environment.
  const words = [
    values.pm1,
    values.pm25,
    values.pm10,
    values.pm1,
    values.pm25,
    values.pm10,
    ...(values.counts ?? [
      values.pm25 * 60,
      values.pm25 * 18,
      values.pm25 * 4,
      values.pm25 / 2,
      values.pm25 / 10,
      values.pm25 / 20,
    ]),
    0, // reserved
  ];
  for (const [i, w] of words.entries()) put(4 + 2 * i, w);
  let sum = 0;
  for (let i = 0; i < 30; i++) sum += frame[i] as number;
  put(30, sum & 0xffff);
  return frame;
}

export const pms5003Protocol: WireProtocol<Pms5003Values> = {
  encode: encodePms5003,
  corrupt(frame) {
    const bad = frame.slice();
    bad[31] = ((bad[31] as number) ^ 0x01) & 0xff;
    return bad;
  },
};

export function startPms5003Sim(options: {
  dir: string;
  name?: string;
  scenario: Scenario<Pms5003Values>;
}): Promise<SerialSim> {
  return startSerialSim(pms5003Protocol, { ...options, defaultIntervalMs: 1000 });
}
