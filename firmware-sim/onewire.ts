/**
 * A simulated 1-Wire bus as the kernel's w1 driver shows it: `ROOT/bus/w1/devices/28-XXXXXXXXXXXX/` with
 * `w1_slave` (scratchpad bytes, the Maxim CRC-8 and YES/NO, then `t=` millidegrees) and `temperature`.
 * Point an agent's `hardware.sysRoot` at ROOT. Scriptable: value curves over time, CRC failures, the 85 °C
 * power-on value, sensors vanishing and coming back. Files are replaced atomically (write, then rename).
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SimulatedProbe {
  /** 1-Wire id, `28-` and 12 hex digits. */
  id: string;
  /** °C, fixed or as a function of the time since the simulator started. */
  celsius: number | ((elapsedMs: number) => number);
}

export interface OneWireSimulator {
  /** The fake /sys: use it as `hardware.sysRoot`. */
  readonly root: string;
  /** The devices directory (`ROOT/bus/w1/devices`). */
  readonly devices: string;
  /** Adds (or replaces) a probe on the bus. */
  add(probe: SimulatedProbe): void;
  /** The probe leaves the bus (unplugged, broken wire): its directory vanishes. */
  remove(id: string): void;
  /** While set, `w1_slave` reports a CRC failure (`NO`) and `temperature` is absent. */
  setCrcFailure(id: string, failing: boolean): void;
  /** While set, the probe reports the 85 °C power-on reset value (a brown-out). */
  setPowerOnReset(id: string, reset: boolean): void;
  /** Rewrites every probe's files now (also done every `intervalMs`). */
  update(): void;
  stop(): void;
}

/** Dallas/Maxim CRC-8 (polynomial x^8 + x^5 + x^4 + 1, reflected 0x8c), as the DS18B20 computes it. */
export function crc8(bytes: readonly number[]): number {
  let crc = 0;
  for (const byte of bytes) {
    let b = byte;
    for (let i = 0; i < 8; i++) {
      const mix = (crc ^ b) & 1;
      crc >>= 1;
      if (mix) crc ^= 0x8c;
      b >>= 1;
    }
  }
  return crc;
}

const hex = (b: number) => b.toString(16).padStart(2, '0');

/** Millidegrees as w1_therm computes them: the 12-bit reading (1/16 °C) times 1000 / 16, truncated. */
export function toMilli(celsius: number): number {
  const raw = (Math.round(celsius * 16) << 16) >> 16;
  return Math.trunc((raw * 1000) / 16);
}

/** A `w1_slave` file for a temperature, as the w1_therm driver writes it (12-bit resolution). */
export function w1SlaveText(celsius: number, crcOk = true): string {
  const raw = Math.round(celsius * 16) & 0xffff;
  const pad = [raw & 0xff, raw >> 8, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10];
  const crc = crc8(pad);
  const scratch = [...pad, crcOk ? crc : crc ^ 0x5a].map(hex).join(' ');
  const milli = toMilli(celsius);
  return `${scratch} : crc=${hex(crcOk ? crc : crc ^ 0x5a)} ${crcOk ? 'YES' : 'NO'}\n${scratch} t=${milli}\n`;
}

export function startOneWireSimulator(
  options: { probes?: SimulatedProbe[]; intervalMs?: number; root?: string } = {},
): OneWireSimulator {
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'xiot-w1-'));
  const devices = join(root, 'bus', 'w1', 'devices');
  mkdirSync(join(devices, 'w1_bus_master1'), { recursive: true });
  const startedAt = Date.now();
  const probes = new Map<string, SimulatedProbe & { crcFailure: boolean; reset: boolean }>();

  const write = (file: string, text: string) => {
    const partial = `${file}.tmp`;
    writeFileSync(partial, text);
    renameSync(partial, file);
  };
  const render = (id: string) => {
    const p = probes.get(id);
    if (!p) return;
    const dir = join(devices, id);
    mkdirSync(dir, { recursive: true });
    const c = p.reset ? 85 : typeof p.celsius === 'function' ? p.celsius(Date.now() - startedAt) : p.celsius;
    write(join(dir, 'w1_slave'), w1SlaveText(c, !p.crcFailure));
    if (p.crcFailure) rmSync(join(dir, 'temperature'), { force: true });
    else write(join(dir, 'temperature'), `${toMilli(c)}\n`);
  };
  const update = () => {
    for (const id of probes.keys()) render(id);
  };
  const flag = (id: string, key: 'crcFailure' | 'reset', value: boolean) => {
    const p = probes.get(id);
    if (!p) throw new Error(`no probe ${id}`);
    p[key] = value;
    render(id);
  };

  for (const p of options.probes ?? []) probes.set(p.id, { ...p, crcFailure: false, reset: false });
  update();
  const timer = setInterval(update, options.intervalMs ?? 100);
  timer.unref();

  return {
    root,
    devices,
    add(probe) {
      if (!/^[0-9a-f]{2}-[0-9a-f]{12}$/i.test(probe.id)) throw new Error(`not a 1-Wire id: ${probe.id}`);
      probes.set(probe.id, { ...probe, crcFailure: false, reset: false });
      render(probe.id);
    },
    remove(id) {
      probes.delete(id);
      rmSync(join(devices, id), { recursive: true, force: true });
    },
    setCrcFailure: (id, failing) => flag(id, 'crcFailure', failing),
    setPowerOnReset: (id, reset) => flag(id, 'reset', reset),
    update,
    stop() {
      clearInterval(timer);
      if (!options.root) rmSync(root, { recursive: true, force: true });
    },
  };
}
