import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import gpioInput from '../../devices/gpio_input.js';
import gpioOutput, { parseXsDuration } from '../../devices/gpio_output.js';
import { builtinDevices } from '../../devices/index.js';
import { BOARDS, type GpioBoard } from '../../firmware-sim/gpio/simulator.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { silentLogger } from '../../src/core/logger.js';
import { createFileSource } from '../../src/hal/files.js';
import { createGpioPortFactory, listGpioChips, resolveChipBase } from '../../src/hal/gpio.js';
import type {
  GpioOpenOptions,
  GpioPort,
  GpioPortFactory,
  Hal,
  SourceContext,
  StreamHandle,
  Values,
} from '../../src/sdk/index.js';
import { tempDir } from '../helpers/agent.js';
import { parseOptions, validate } from '../../src/sdk/options.js';

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

/** A fake /sys with the gpiochip directories of `board`. */
function sysTree(board?: GpioBoard, extra: (gpio: string) => void = () => undefined) {
  const dir = tempDir('xiot-sys-');
  dirs.push(dir);
  const gpio = join(dir.path, 'class', 'gpio');
  mkdirSync(gpio, { recursive: true });
  for (const chip of board?.chips ?? []) {
    const d = join(gpio, `gpiochip${chip.base}`);
    mkdirSync(d);
    writeFileSync(join(d, 'base'), `${chip.base}\n`);
    writeFileSync(join(d, 'label'), `${chip.label}\n`);
    writeFileSync(join(d, 'ngpio'), `${chip.ngpio}\n`);
  }
  extra(gpio);
  return createFileSource({ sys: dir.path });
}

describe('chip base (BCM number → sysfs number)', () => {
  it('picks pinctrl-rp1 on a Pi 5 (571), even though other chips come first', async () => {
    const files = sysTree(BOARDS.pi5);
    expect((await listGpioChips(files)).map((c) => c.base)).toEqual([512, 544, 548, 565, 571]);
    expect(await resolveChipBase(files)).toMatchObject({
      base: 571,
      source: 'chip',
      chip: { label: 'pinctrl-rp1', ngpio: 54 },
    });
  });

  it('picks pinctrl-bcm2711 on a Pi 4 with a Bookworm kernel (512)', async () => {
    expect(await resolveChipBase(sysTree(BOARDS.pi4))).toMatchObject({ base: 512, source: 'chip' });
  });

  it('keeps BCM numbers on legacy kernels (base 0) and where no Pi chip exists', async () => {
    expect(await resolveChipBase(sysTree(BOARDS.legacy))).toMatchObject({ base: 0, source: 'chip' });
    const other = sysTree({ pinctrl: 'x', chips: [{ base: 300, ngpio: 16, label: 'gpio-mockup-A' }] });
    expect(await resolveChipBase(other)).toEqual({ base: 0, source: 'default' });
    expect(await resolveChipBase(sysTree())).toEqual({ base: 0, source: 'default' });
  });

  it('skips chips whose files are unreadable', async () => {
    const files = sysTree(BOARDS.pi4, (gpio) => {
      mkdirSync(join(gpio, 'gpiochip9'));
      writeFileSync(join(gpio, 'gpiochip9', 'base'), 'garbage\n');
    });
    expect((await listGpioChips(files)).map((c) => c.name)).toEqual(['gpiochip512', 'gpiochip570']);
  });

  it('uses the config override without reading the tree', async () => {
    const files = { ...sysTree(BOARDS.pi5), list: () => Promise.reject(new Error('must not be read')) };
    expect(await resolveChipBase(files, 512)).toEqual({ base: 512, source: 'config' });
  });
});

describe('hardware.gpioChipBase', () => {
  const config = (hardware: string) =>
    parseAgentConfig(
      `xmpp: { service: 'xmpp://127.0.0.1:5222', domain: localhost, username: pi, password: x }
hardware: ${hardware}
devices: [{ id: button, type: gpio_input, pin: 17 }]`,
      { definitions: builtinDevices, env: {} },
    );

  it('is optional, and a non-negative integer when given', () => {
    expect(config('{}').hardware.gpioChipBase).toBeUndefined();
    expect(config('{ gpioChipBase: 571 }').hardware.gpioChipBase).toBe(571);
    expect(() => config('{ gpioChipBase: -1 }')).toThrow(/hardware\.gpioChipBase/);
    expect(() => config('{ gpioChipBase: "571" }')).toThrow(/hardware\.gpioChipBase/);
  });
});

/** Stands in for onoff's Gpio: records what the factory asks of it. */
function fakeOnoff(opts: { accessible?: boolean; refuse?: string } = {}) {
  const created: FakeGpio[] = [];
  class FakeGpio {
    static accessible = opts.accessible ?? true;
    value: 0 | 1 = 0;
    listeners: ((err: Error | null | undefined, value: 0 | 1) => void)[] = [];
    unexported = 0;
    constructor(
      readonly line: number,
      readonly direction: string,
      readonly edge: string | undefined,
      readonly options: { activeLow?: boolean; debounceTimeout?: number },
    ) {
      if (opts.refuse) throw Object.assign(new Error(`${opts.refuse}: refused`), { code: opts.refuse });
      if (direction === 'high') this.value = options.activeLow ? 0 : 1;
      created.push(this);
    }
    read() {
      return Promise.resolve(this.value);
    }
    write(v: 0 | 1) {
      this.value = v;
      return Promise.resolve();
    }
    watch(cb: (err: Error | null | undefined, value: 0 | 1) => void) {
      this.listeners.push(cb);
    }
    unwatch(cb: unknown) {
      this.listeners = this.listeners.filter((l) => l !== cb);
    }
    unexport() {
      this.listeners = [];
      this.unexported++;
    }
    /** The kernel reports an edge. */
    edgeTo(v: 0 | 1) {
      this.value = v;
      for (const l of this.listeners) l(null, v);
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- stands in for onoff's class
  return { created, load: () => Promise.resolve(FakeGpio as any) };
}

describe('GpioPort over onoff', () => {
  it('exports base + BCM number: pin 17 is sysfs 588 on a Pi 5', async () => {
    const onoff = fakeOnoff();
    const gpio = createGpioPortFactory({ files: sysTree(BOARDS.pi5), loadOnoff: onoff.load });
    const port = await gpio.open({ pin: 17, direction: 'in', activeLow: true });
    expect(port.line).toBe(588);
    expect(onoff.created[0]).toMatchObject({ line: 588, direction: 'in', edge: 'both' });
    expect(onoff.created[0]?.options.activeLow).toBe(true);
    await port.close();
    await port.close();
    expect(onoff.created[0]?.unexported).toBe(1);
  });

  it('honours the override and refuses lines the chip does not have', async () => {
    const onoff = fakeOnoff();
    const overridden = createGpioPortFactory({
      files: sysTree(BOARDS.pi5),
      chipBase: 512,
      loadOnoff: onoff.load,
    });
    expect((await overridden.open({ pin: 4, direction: 'in' })).line).toBe(516);
    const detected = createGpioPortFactory({ files: sysTree(BOARDS.pi5), loadOnoff: onoff.load });
    await expect(detected.open({ pin: 54, direction: 'in' })).rejects.toThrow(/pinctrl-rp1 has lines 0–53/);
  });

  it('drives the initial level in the same write that makes the line an output (raw, active-low applied)', async () => {
    const onoff = fakeOnoff();
    const gpio = createGpioPortFactory({ files: sysTree(BOARDS.legacy), loadOnoff: onoff.load });
    await gpio.open({ pin: 5, direction: 'out', initial: true });
    await gpio.open({ pin: 6, direction: 'out', initial: true, activeLow: true });
    await gpio.open({ pin: 7, direction: 'out', activeLow: true });
    expect(onoff.created.map((g) => g.direction)).toEqual(['high', 'low', 'high']);
  });

  it('explains an EINVAL from export with the chip base, and a host without GPIO', async () => {
    const refused = createGpioPortFactory({
      files: sysTree(),
      loadOnoff: fakeOnoff({ refuse: 'EINVAL' }).load,
    });
    await expect(refused.open({ pin: 17, direction: 'in' })).rejects.toThrow(
      /GPIO 17 \(sysfs 17\).*chip base is 0 \(default\).*hardware\.gpioChipBase/,
    );
    const absent = createGpioPortFactory({
      files: sysTree(),
      loadOnoff: fakeOnoff({ accessible: false }).load,
    });
    await expect(absent.open({ pin: 17, direction: 'in' })).rejects.toMatchObject({
      code: 'IOT_ERR_DEVICE',
      message: expect.stringMatching(/export/),
    });
  });

  it('debounces: a burst of edges reaches listeners once, with the settled level', async () => {
    const onoff = fakeOnoff();
    const gpio = createGpioPortFactory({ files: sysTree(BOARDS.pi4), loadOnoff: onoff.load });
    const port = await gpio.open({ pin: 27, direction: 'in', debounceMs: 40 });
    const seen: boolean[] = [];
    port.watch((v) => seen.push(v));
    const fake = onoff.created[0]!;
    for (const v of [1, 0, 1, 0, 1] as const) fake.edgeTo(v);
    expect(seen).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(seen).toEqual([true]);
    // A pending debounce never fires after close (onoff's own would read a closed file).
    fake.edgeTo(0);
    await port.close();
    await new Promise((r) => setTimeout(r, 80));
    expect(seen).toEqual([true]);
  });
});

/** A GPIO factory whose lines are plain variables. */
function fakeGpio() {
  const lines = new Map<
    number,
    { options: GpioOpenOptions; level: boolean; closed: boolean; emit(v: boolean): void }
  >();
  const factory: GpioPortFactory = {
    async open(options) {
      const listeners: ((v: boolean) => void)[] = [];
      const line = {
        options,
        level: options.initial ?? false,
        closed: false,
        emit(v: boolean) {
          line.level = v;
          for (const l of listeners) l(v);
        },
      };
      lines.set(options.pin, line);
      const port: GpioPort = {
        pin: options.pin,
        line: options.pin,
        read: async () => line.level,
        write: async (v) => {
          line.level = v;
        },
        watch(l) {
          listeners.push(l);
          return () => listeners.splice(listeners.indexOf(l), 1);
        },
        close: async () => {
          line.closed = true;
        },
      };
      return port;
    },
  };
  return { lines, factory };
}

function context<O>(options: O, gpio?: GpioPortFactory): SourceContext<O> {
  const hal: Hal = { files: createFileSource(), ...(gpio ? { gpio } : {}) };
  return { deviceId: 'd', options, hal, log: silentLogger(), signal: new AbortController().signal };
}

async function startStream<O>(
  source: typeof gpioInput.source | typeof gpioOutput.source,
  ctx: SourceContext<O>,
): Promise<{ handle: StreamHandle; emitted: Values[]; failures: Error[] }> {
  if (source.kind === 'poll') throw new Error('not a stream');
  const emitted: Values[] = [];
  const failures: Error[] = [];
  const handle = await source.start(
    ctx as never,
    (v) => emitted.push(v),
    (e) => failures.push(e),
  );
  return { handle, emitted, failures };
}

describe('gpio_input', () => {
  it('validates options: pin required, debounce a duration', () => {
    expect(validate(gpioInput.options, {}).ok).toBe(false);
    expect(validate(gpioInput.options, { pin: 17, debounce: 'soon' }).ok).toBe(false);
    expect(parseOptions(gpioInput.options, { pin: 17 })).toEqual({
      pin: 17,
      activeLow: false,
      debounce: '20ms',
    });
  });

  it('reports the level at start, then every change at once (no repeat of an unchanged level)', async () => {
    const gpio = fakeGpio();
    const { handle, emitted } = await startStream(
      gpioInput.source,
      context(parseOptions(gpioInput.options, { pin: 17, activeLow: true, debounce: '5ms' }), gpio.factory),
    );
    const line = gpio.lines.get(17)!;
    expect(line.options).toMatchObject({ direction: 'in', activeLow: true, edge: 'both', debounceMs: 5 });
    line.emit(true);
    line.emit(true);
    line.emit(false);
    expect(emitted).toEqual([{ state: false }, { state: true }, { state: false }]);
    expect(await handle.read?.()).toEqual({ state: false });
    await handle.stop();
    expect(line.closed).toBe(true);
  });

  it('fails clearly without a GPIO hal', async () => {
    await expect(
      startStream(gpioInput.source, context({ pin: 1, activeLow: false, debounce: '0ms' })),
    ).rejects.toThrow(/no GPIO hal/);
  });
});

describe('gpio_output', () => {
  it('declares state (writable, mirrors the field) and pulse controls', () => {
    const controls = Array.isArray(gpioOutput.controls) ? gpioOutput.controls : [];
    expect(controls.map((c) => [c.name, c.type, c.field])).toEqual([
      ['state', 'boolean', 'state'],
      ['pulse', 'duration', undefined],
    ]);
  });

  it('drives initial at start, applies set in order and emits each new state, returns to initial on stop', async () => {
    const gpio = fakeGpio();
    const { handle, emitted } = await startStream(
      gpioOutput.source,
      context(parseOptions(gpioOutput.options, { pin: 22, activeLow: true }), gpio.factory),
    );
    const line = gpio.lines.get(22)!;
    expect(line.options).toMatchObject({ direction: 'out', activeLow: true, initial: false });
    await handle.set?.({ state: true });
    expect(line.level).toBe(true);
    await handle.set?.({ state: false });
    expect(emitted).toEqual([{ state: false }, { state: true }, { state: false }]);
    await expect(handle.set?.({ state: 'on' })).rejects.toThrow(/boolean/);
    await expect(handle.set?.({ pulse: 'PT2H' })).rejects.toThrow(/PT1H/);
    await handle.set?.({ pulse: 'PT0.05S' });
    expect(line.level).toBe(true);
    await new Promise((r) => setTimeout(r, 120));
    expect(line.level).toBe(false);
    expect(emitted.slice(3)).toEqual([{ state: true }, { state: false }]);
    await handle.set?.({ state: true });
    await handle.stop();
    expect(line.level).toBe(false);
    expect(line.closed).toBe(true);
  });

  it('parses XML Schema durations', () => {
    expect(parseXsDuration('PT0.5S')).toBe(500);
    expect(parseXsDuration('PT1M30S')).toBe(90_000);
    expect(parseXsDuration('P1DT1H')).toBe(90_000_000);
    for (const bad of ['P', 'PT', '500ms', 'P1Y', '']) expect(parseXsDuration(bad)).toBeUndefined();
  });
});
