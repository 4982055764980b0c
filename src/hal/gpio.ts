/**
 * GPIO over the kernel's sysfs interface, through onoff (loaded lazily: installs and tests work where GPIO is
 * absent). Device files name lines by Raspberry Pi (BCM) number; the kernel's sysfs numbers are offset by the
 * chip base on current kernels (Raspberry Pi OS Bookworm, 6.6+: 512 on a Pi 4, 571 on a Pi 5, where writing 17 to
 * `export` fails with EINVAL). The base is read from `/sys/class/gpio/gpiochip*\/{base,label,ngpio}` (the Pi's
 * pinctrl chip) unless the config sets `hardware.gpioChipBase`.
 */
import type { Gpio as OnoffGpio } from 'onoff';
import { DeviceError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FileSource, GpioOpenOptions, GpioPort, GpioPortFactory } from '../sdk/index.js';

/** The chips that carry a Raspberry Pi's header lines, most specific first (Pi 5, Pi 4, older Pis). */
export const PI_PINCTRL_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

const GPIO_CLASS = '/sys/class/gpio';

export interface GpioChip {
  /** Directory name, `gpiochip571`. */
  name: string;
  base: number;
  label: string;
  ngpio: number;
}

export interface ChipBase {
  base: number;
  /** Where the base came from: the config override, a Pi pinctrl chip, or the legacy default 0. */
  source: 'config' | 'chip' | 'default';
  chip?: GpioChip;
}

/** Every `gpiochipN` under /sys/class/gpio, by base. Chips whose files cannot be parsed are skipped. */
export async function listGpioChips(files: FileSource): Promise<GpioChip[]> {
  const chips: GpioChip[] = [];
  for (const name of await files.list(GPIO_CLASS)) {
    if (!/^gpiochip\d+$/.test(name)) continue;
    const [base, label, ngpio] = await Promise.all(
      ['base', 'label', 'ngpio'].map((f) => files.readTextIfExists(`${GPIO_CLASS}/${name}/${f}`)),
    );
    const b = Number(base?.trim());
    const n = Number(ngpio?.trim());
    if (base === undefined || !Number.isInteger(b) || !Number.isInteger(n)) continue;
    chips.push({ name, base: b, label: label?.trim() ?? '', ngpio: n });
  }
  return chips.sort((a, b) => a.base - b.base);
}

/** The chip base BCM numbers are offset by: the override, else the Pi's pinctrl chip, else 0 (legacy kernels). */
export async function resolveChipBase(files: FileSource, override?: number): Promise<ChipBase> {
  if (override !== undefined) return { base: override, source: 'config' };
  const chips = await listGpioChips(files);
  for (const label of PI_PINCTRL_LABELS) {
    const chip = chips.find((c) => c.label === label);
    if (chip) return { base: chip.base, source: 'chip', chip };
  }
  return { base: 0, source: 'default' };
}

type OnoffGpioClass = typeof OnoffGpio;

export interface GpioPortFactoryDeps {
  /** Where /sys/class/gpio is read: keep it the real /sys, which is where onoff writes. */
  files: FileSource;
  /** `hardware.gpioChipBase`: skip detection and add this to every BCM number. */
  chipBase?: number;
  log?: Logger;
  /** How onoff is loaded (tests inject a fake). */
  loadOnoff?: () => Promise<OnoffGpioClass>;
}

async function importOnoff(): Promise<OnoffGpioClass> {
  try {
    const mod = (await import('onoff')) as { Gpio?: OnoffGpioClass; default?: { Gpio: OnoffGpioClass } };
    const Gpio = mod.Gpio ?? mod.default?.Gpio;
    if (!Gpio) throw new Error('onoff exports no Gpio');
    return Gpio;
  } catch (err) {
    throw new DeviceError(`cannot load onoff (GPIO driver): ${errorMessage(err)}`, { cause: err });
  }
}

export function createGpioPortFactory(deps: GpioPortFactoryDeps): GpioPortFactory {
  let base: Promise<ChipBase> | undefined;
  let onoff: Promise<OnoffGpioClass> | undefined;
  const chipBase = () => {
    base ??= resolveChipBase(deps.files, deps.chipBase).then((b) => {
      deps.log?.info(
        { base: b.base, source: b.source, ...(b.chip ? { chip: b.chip.name, label: b.chip.label } : {}) },
        'GPIO numbering',
      );
      return b;
    });
    base.catch(() => {
      base = undefined; // retried on the next open
    });
    return base;
  };

  return {
    async open(options: GpioOpenOptions): Promise<GpioPort> {
      const { pin, direction } = options;
      if (!Number.isInteger(pin) || pin < 0) throw new DeviceError(`GPIO ${pin}: not a line number`);
      const b = await chipBase();
      if (b.chip && pin >= b.chip.ngpio) {
        throw new DeviceError(`GPIO ${pin}: ${b.chip.label} has lines 0–${b.chip.ngpio - 1}`);
      }
      const line = b.base + pin;
      onoff ??= (deps.loadOnoff ?? importOnoff)();
      onoff.catch(() => {
        onoff = undefined;
      });
      const Gpio = await onoff;
      if (!Gpio.accessible) {
        throw new DeviceError(
          `GPIO ${pin}: cannot write ${GPIO_CLASS}/export (no sysfs GPIO on this host, or no permission: ` +
            'run as root or add the user to the gpio group)',
        );
      }
      const activeLow = options.activeLow ?? false;
      let gpio: OnoffGpio;
      try {
        if (direction === 'in') {
          // Debounced here rather than by onoff, whose pending debounce timer outlives unexport (EBADF).
          gpio = new Gpio(line, 'in', options.edge ?? 'both', { activeLow });
        } else {
          // "high"/"low" set the direction and the raw level in one write: no glitch to the wrong level.
          const raw = (options.initial ?? false) !== activeLow;
          gpio = new Gpio(line, raw ? 'high' : 'low', undefined, { activeLow });
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const hint =
          code === 'EINVAL'
            ? ` (the kernel does not know line ${line}: the chip base is ${b.base} (${b.source}); ` +
              'set hardware.gpioChipBase if that is wrong)'
            : code === 'EBUSY'
              ? ' (the line is in use by another driver)'
              : '';
        throw new DeviceError(`GPIO ${pin} (sysfs ${line}): ${errorMessage(err)}${hint}`, { cause: err });
      }
      let closed = false;
      const debounceMs = options.debounceMs ?? 0;
      const timers = new Set<NodeJS.Timeout>();
      return {
        pin,
        line,
        read: async () => (await gpio.read()) === 1,
        write: (value) => gpio.write(value ? 1 : 0),
        watch(listener, onError) {
          let timer: NodeJS.Timeout | undefined;
          const settled = () => {
            if (timer) timers.delete(timer);
            timer = undefined;
            if (closed) return;
            gpio.read().then(
              (value) => !closed && listener(value === 1),
              (err: Error) => !closed && onError?.(err),
            );
          };
          const callback = (err: Error | null | undefined, value: 0 | 1) => {
            if (closed) return;
            if (err) onError?.(err);
            else if (debounceMs <= 0) listener(value === 1);
            else {
              // Each edge restarts the wait; the listener sees the level once it held for debounceMs.
              if (timer) {
                clearTimeout(timer);
                timers.delete(timer);
              }
              timer = setTimeout(settled, debounceMs);
              timers.add(timer);
            }
          };
          gpio.watch(callback);
          return () => {
            if (timer) {
              clearTimeout(timer);
              timers.delete(timer);
            }
            if (!closed) gpio.unwatch(callback);
          };
        },
        async close() {
          if (closed) return;
          closed = true;
          for (const t of timers) clearTimeout(t);
          timers.clear();
          try {
            gpio.unexport(); // also stops watching and closes the value file
          } catch (err) {
            deps.log?.warn({ pin, line, err: errorMessage(err) }, 'could not unexport a GPIO line');
          }
        },
      };
    },
  };
}
