/**
 * The GPIO sysfs simulator: a FUSE filesystem (gpio-sim.c) mounted on a temp dir that serves what the kernel
 * serves under /sys/class/gpio, interrupts included, plus `sim/gpioN` files through which tests drive input
 * levels and read output levels. Unmodified drivers see it where they expect it when the mount is bound over
 * /sys/class inside a private mount namespace (`namespaceCommand`). Needs root and /dev/fuse.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGpioSim } from './build.js';

export interface GpioChipSpec {
  base: number;
  ngpio: number;
  /** No spaces (the kernel's labels have none either). */
  label: string;
}

/** A board's chips, and which one carries the header lines (the one BCM numbers refer to). */
export interface GpioBoard {
  chips: GpioChipSpec[];
  pinctrl: string;
}

/** GPIO chips as the kernels of Raspberry Pi OS report them. */
export const BOARDS = {
  /** Pi 5, Bookworm (6.6): the header is on RP1, base 571; the SoC's own chips come first. */
  pi5: {
    pinctrl: 'pinctrl-rp1',
    chips: [
      { base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' },
      { base: 544, ngpio: 4, label: 'gpio-brcmstb@107d508520' },
      { base: 548, ngpio: 17, label: 'gpio-brcmstb@107d517c00' },
      { base: 565, ngpio: 6, label: 'gpio-brcmstb@107d517c20' },
      { base: 571, ngpio: 54, label: 'pinctrl-rp1' },
    ],
  },
  /** Pi 4, Bookworm (6.6): base 512. */
  pi4: {
    pinctrl: 'pinctrl-bcm2711',
    chips: [
      { base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
      { base: 570, ngpio: 8, label: 'raspberrypi-exp-gpio' },
    ],
  },
  /** Older kernels (Bullseye and before): BCM numbers are sysfs numbers. */
  legacy: {
    pinctrl: 'pinctrl-bcm2835',
    chips: [
      { base: 0, ngpio: 54, label: 'pinctrl-bcm2835' },
      { base: 504, ngpio: 8, label: 'raspberrypi-exp-gpio' },
    ],
  },
} satisfies Record<string, GpioBoard>;

export interface GpioSimulator {
  /** The mount point: `gpio/` is what /sys/class/gpio shows, `sim/` the simulator's side. */
  readonly root: string;
  readonly board: GpioBoard;
  /** The sysfs number of BCM line `pin` on this board. */
  sysfs(pin: number): number;
  /** Drives the physical level of an input line (EPERM while the line is an exported output). */
  setInput(pin: number, level: boolean): Promise<void>;
  /** The physical level of a line: what an output drives, or what the simulator set. */
  level(pin: number): Promise<boolean>;
  /** Sysfs numbers currently exported. */
  exported(): Promise<number[]>;
  /** `in`/`out` for an exported line, undefined otherwise. */
  direction(pin: number): Promise<'in' | 'out' | undefined>;
  /** The command line that runs `argv` with this simulator bound over /sys/class in a private mount namespace. */
  namespaceCommand(argv: readonly string[]): { command: string; args: string[] };
  /** Unmounts and stops the filesystem process. Idempotent. */
  stop(): Promise<void>;
}

export async function startGpioSimulator(
  options: { board?: GpioBoard | keyof typeof BOARDS; binary?: string } = {},
): Promise<GpioSimulator> {
  const board: GpioBoard =
    typeof options.board === 'object' ? options.board : BOARDS[options.board ?? 'legacy'];
  const pinctrl = board.chips.find((c) => c.label === board.pinctrl);
  if (!pinctrl) throw new Error(`board has no chip labelled ${board.pinctrl}`);
  const binary = options.binary ?? buildGpioSim();
  const root = mkdtempSync(join(tmpdir(), 'xiot-gpio-'));
  const args = [...board.chips.map((c) => `--chip=${c.base}:${c.ngpio}:${c.label}`), root, '-f', '-s'];
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      stderr += err.message;
      resolve();
    });
  });
  let mounted = false;
  let stopped = false;
  // Never leave a mount behind, even when the test process dies without calling stop().
  const onExit = () => {
    if (mounted) spawnSync('fusermount3', ['-u', '-z', root]);
  };
  process.once('exit', onExit);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    if (mounted) {
      const r = spawnSync('fusermount3', ['-u', root], { encoding: 'utf8' });
      // Busy (a namespace still holds a bind of it): detach lazily, then stop the process.
      if (r.status !== 0) spawnSync('fusermount3', ['-u', '-z', root]);
      mounted = false;
    }
    // Unmounting ends the process; signals only if it lingers.
    const running = () => child.exitCode === null && child.signalCode === null;
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (!running()) break;
      await Promise.race([exited, delay(1000)]);
      if (running()) child.kill(signal);
    }
    await exited;
    try {
      rmdirSync(root); // never recursive: a mount that failed to go away must not be walked into
    } catch {
      // left for the OS to clean up
    }
  };

  const deadline = Date.now() + 5000;
  while (!existsSync(join(root, 'gpio', 'export'))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`gpio-sim did not mount on ${root}: ${stderr.trim() || `exit ${child.exitCode}`}`);
    }
    await delay(10);
  }
  mounted = true;

  const sysfs = (pin: number) => {
    if (!Number.isInteger(pin) || pin < 0 || pin >= pinctrl.ngpio) throw new Error(`no BCM line ${pin}`);
    return pinctrl.base + pin;
  };
  return {
    root,
    board,
    sysfs,
    setInput: (pin, level) => writeFile(join(root, 'sim', `gpio${sysfs(pin)}`), level ? '1' : '0'),
    level: async (pin) => (await readFile(join(root, 'sim', `gpio${sysfs(pin)}`), 'utf8')).trim() === '1',
    async exported() {
      return (await readdir(join(root, 'gpio')))
        .flatMap((n) => /^gpio(\d+)$/.exec(n)?.[1] ?? [])
        .map(Number)
        .sort((a, b) => a - b);
    },
    async direction(pin) {
      try {
        const d = (await readFile(join(root, 'gpio', `gpio${sysfs(pin)}`, 'direction'), 'utf8')).trim();
        return d === 'out' ? 'out' : 'in';
      } catch {
        return undefined;
      }
    },
    namespaceCommand: (argv) => ({
      command: 'unshare',
      args: [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount --bind "$0" /sys/class && exec "$@"',
        root,
        ...argv,
      ],
    }),
    stop,
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
