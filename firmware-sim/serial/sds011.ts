/** SDS011 in active mode: one `AA C0 … AB` frame per second (see devices/sds011.ts for the layout). */
import { type Scenario, type SerialSim, startSerialSim, type WireProtocol } from './sim.js';

export interface Sds011Values {
  /** µg/m³ (sent in tenths). */
  pm25: number;
  pm10: number;
}

export function encodeSds011(values: Sds011Values, id = 0x1234): Uint8Array {
  const tenths = (v: number) => Math.max(0, Math.min(0xffff, Math.round(v * 10)));
  const pm25 = tenths(values.pm25);
  const pm10 = tenths(values.pm10);
  const frame = Uint8Array.from([
    0xaa,
    0xc0,
    pm25 & 0xff,
    pm25 >> 8,
    pm10 & 0xff,
    pm10 >> 8,
    id & 0xff,
    (id >> 8) & 0xff,
    0,
    0xab,
  ]);
  let sum = 0;
  for (let i = 2; i < 8; i++) sum += frame[i] as number;
  frame[8] = sum & 0xff;
  return frame;
}

export const sds011Protocol: WireProtocol<Sds011Values> = {
  encode: (v) => encodeSds011(v),
  corrupt(frame) {
    const bad = frame.slice();
    bad[8] = ((bad[8] as number) + 1) & 0xff;
    return bad;
  },
};

export function startSds011Sim(options: {
  dir: string;
  name?: string;
  scenario: Scenario<Sds011Values>;
}): Promise<SerialSim> {
  return startSerialSim(sds011Protocol, { ...options, defaultIntervalMs: 1000 });
}
