/**
 * What `xiot init` finds on this machine: the board, the GPIO chip base, serial ports and 1-Wire sensors.
 * Files only: never `SerialPort.list()`, which spawns udevadm and kills the process where it is missing.
 * Roots are parameters so tests run against simulated trees.
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

export interface Roots {
  proc: string;
  sys: string;
  dev: string;
}

export const SYSTEM_ROOTS: Roots = { proc: '/proc', sys: '/sys', dev: '/dev' };

export interface Hardware {
  /** "Raspberry Pi 4 Model B Rev 1.4", or undefined off a Pi. */
  model: string | undefined;
  /** Base of the SoC's pinctrl GPIO chip in sysfs numbering (512 on a Pi 4 with kernel 6.6+), when found. */
  gpioChipBase: number | undefined;
  /** Serial ports, stable names first (`/dev/serial/by-id/...`), each real device once. */
  serialPorts: string[];
  /** DS18B20 ids (`28-...`) on the 1-Wire bus. */
  oneWire: string[];
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export function detectModel(roots: Roots): string | undefined {
  const dt = read(join(roots.proc, 'device-tree', 'model'))
    ?.replace(/\0/g, '')
    .trim();
  if (dt) return dt;
  const cpuinfo = read(join(roots.proc, 'cpuinfo'));
  return cpuinfo?.match(/^Model\s*:\s*(.+)$/m)?.[1]?.trim();
}

/** The pinctrl chip's base: the gpiochip whose label names the SoC's GPIO block (bcm2835/2711, rp1 on a Pi 5). */
export function detectGpioChipBase(roots: Roots): number | undefined {
  const dir = join(roots.sys, 'class', 'gpio');
  const chips = list(dir)
    .filter((n) => /^gpiochip\d+$/.test(n))
    .map((n) => ({
      base: Number(read(join(dir, n, 'base'))?.trim()),
      label: read(join(dir, n, 'label'))?.trim() ?? '',
      ngpio: Number(read(join(dir, n, 'ngpio'))?.trim()),
    }))
    .filter((c) => Number.isInteger(c.base));
  const pinctrl =
    chips.find((c) => /pinctrl-(bcm|rp1)|rp1|bcm2835|bcm2711|bcm2712/i.test(c.label)) ??
    chips.find((c) => c.ngpio >= 28);
  return pinctrl?.base;
}

export function detectSerialPorts(roots: Roots): string[] {
  const byId = join(roots.dev, 'serial', 'by-id');
  const stable = list(byId).map((n) => join(byId, n));
  const seen = new Set(stable.map((p) => resolveLink(p)));
  const plain = list(roots.dev)
    .filter((n) => /^(ttyACM\d+|ttyUSB\d+|serial0|ttyAMA\d+)$/.test(n))
    .filter((n) => n !== 'ttyAMA0' || !existsSync(join(roots.dev, 'serial0'))) // serial0 names it
    .map((n) => join(roots.dev, n))
    .filter((p) => !seen.has(resolveLink(p)));
  return [...stable, ...plain];
}

function resolveLink(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

export function detectOneWire(roots: Roots): string[] {
  return list(join(roots.sys, 'bus', 'w1', 'devices')).filter((n) => /^28-[0-9a-f]{12}$/i.test(n));
}

export function detectHardware(roots: Roots = SYSTEM_ROOTS): Hardware {
  return {
    model: detectModel(roots),
    gpioChipBase: detectGpioChipBase(roots),
    serialPorts: detectSerialPorts(roots),
    oneWire: detectOneWire(roots),
  };
}
