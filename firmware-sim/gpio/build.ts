/**
 * Builds the FUSE GPIO simulator (gpio-sim.c) with gcc and libfuse3, once per source version: the binary is
 * cached under the temp dir by a hash of the source, so test runs after the first start at once.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MissingDependencyError } from '../../src/core/errors.js';
import { findExecutable } from '../../src/devtools/system-deps.js';

// Beside this module in the source tree; from the compiled copy in dist/, the source tree's file.
export const GPIO_SIM_SOURCE = [
  new URL('./gpio-sim.c', import.meta.url),
  new URL('../../../firmware-sim/gpio/gpio-sim.c', import.meta.url),
]
  .map((u) => fileURLToPath(u))
  .find((p) => existsSync(p)) as string;
export const FUSE_PACKAGES = 'fuse3 libfuse3-dev pkg-config';

/** Path of the built simulator binary (built now unless an identical build is cached). */
export function buildGpioSim(cacheRoot = tmpdir()): string {
  const source = readFileSync(GPIO_SIM_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(cacheRoot, 'xiot-gpio-sim');
  const binary = join(dir, `gpio-sim-${hash}`);
  if (existsSync(binary)) return binary;
  const fix = `apt-get install -y ${FUSE_PACKAGES}`;
  if (!findExecutable('gcc')) throw new MissingDependencyError('gcc', 'apt-get install -y gcc');
  const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' });
  if (flags.error || flags.status !== 0) throw new MissingDependencyError('libfuse3 (pkg-config fuse3)', fix);
  mkdirSync(dir, { recursive: true });
  // Built under a unique name and renamed: parallel test workers never run a half-written binary.
  const partial = `${binary}.${process.pid}.tmp`;
  const cc = spawnSync(
    'gcc',
    ['-O2', '-Wall', '-o', partial, GPIO_SIM_SOURCE, ...flags.stdout.trim().split(/\s+/)],
    { encoding: 'utf8' },
  );
  if (cc.status !== 0) {
    rmSync(partial, { force: true });
    throw new Error(`building gpio-sim failed:\n${cc.stderr}`);
  }
  renameSync(partial, binary);
  return binary;
}
