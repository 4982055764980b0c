/**
 * System (apt) packages that the integration tests, the demo and the benchmarks need,
 * and how to install them. Nothing here is needed by the agent itself at run time.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';

/** Debian's python: the `python3` first on PATH may be a separate build that cannot see Debian's packages. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export interface SystemDependency {
  /** Human name used in messages. */
  name: string;
  /** Debian package that provides it. */
  debianPackage: string;
  /** What needs it. */
  purpose: string;
  /** True when it is usable on this machine. */
  present(): boolean;
}

const FALLBACK_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable found on PATH (or in the usual system directories), or undefined. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...FALLBACK_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

let slixmppCache: boolean | undefined;

/** True when Debian's python can `import slixmpp` (checked once per process, ~100 ms). */
export function hasSlixmpp(): boolean {
  if (slixmppCache === undefined) {
    const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import slixmpp'], { stdio: 'ignore', timeout: 10_000 });
    slixmppCache = r.status === 0;
  }
  return slixmppCache;
}

export const SYSTEM_DEPENDENCIES: readonly SystemDependency[] = [
  {
    name: 'Prosody',
    debianPackage: 'prosody',
    purpose: 'the XMPP server the integration tests, the demo and the benchmarks run against',
    present: () => findExecutable('prosody') !== undefined && findExecutable('prosodyctl') !== undefined,
  },
  {
    name: 'ejabberd',
    debianPackage: 'ejabberd',
    purpose: 'the second XMPP server every integration suite also runs against (started as user ejabberd)',
    present: () => findExecutable('ejabberdctl') !== undefined,
  },
  {
    name: 'socat',
    debianPackage: 'socat',
    purpose: 'pseudo-terminal pairs for the serial device tests',
    present: () => findExecutable('socat') !== undefined,
  },
  {
    name: 'slixmpp',
    debianPackage: 'python3-slixmpp',
    purpose: `the independent XEP-0323/0325 peer for interop tests (run with ${SYSTEM_PYTHON})`,
    present: hasSlixmpp,
  },
  {
    name: 'openssl',
    debianPackage: 'openssl',
    purpose: 'throwaway certificates for the TLS transport tests (STARTTLS, xmpps://, wss://)',
    present: () => findExecutable('openssl') !== undefined,
  },
  {
    name: 'systemd-analyze',
    debianPackage: 'systemd',
    purpose: 'verifies the unit `xiot service print` writes (the package-install test)',
    present: () => findExecutable('systemd-analyze') !== undefined,
  },
  {
    name: 'xmllint',
    debianPackage: 'libxml2-utils',
    purpose: "validates the hub's XEP-0347/0324 answers against the XEP schemas (test/fixtures/xsd)",
    present: () => findExecutable('xmllint') !== undefined,
  },
  {
    name: 'PostgreSQL 15',
    debianPackage: 'postgresql',
    purpose: "the hub's PostgreSQL store (a throwaway server per test run, started as user postgres)",
    present: () =>
      existsSync('/usr/lib/postgresql/15/bin/initdb') && existsSync('/usr/lib/postgresql/15/bin/pg_ctl'),
  },
  {
    name: 'Chromium',
    debianPackage: 'chromium',
    purpose: "the hub dashboard's browser tests (driven by playwright-core; no browser is downloaded)",
    present: () => existsSync('/usr/bin/chromium'),
  },
  {
    name: 'FUSE 3',
    debianPackage: 'fuse3',
    purpose: 'fusermount3, which mounts the GPIO sysfs simulator (firmware-sim/gpio) for the GPIO tests',
    present: () => findExecutable('fusermount3') !== undefined,
  },
  {
    name: 'libfuse3 headers',
    debianPackage: 'libfuse3-dev',
    purpose: 'building the GPIO sysfs simulator (gcc, libfuse3) at test time',
    present: () => existsSync('/usr/include/fuse3/fuse.h'),
  },
  {
    name: 'pkg-config',
    debianPackage: 'pkg-config',
    purpose: 'the compiler flags for libfuse3 when building the GPIO sysfs simulator',
    present: () => findExecutable('pkg-config') !== undefined,
  },
];

/** Debian packages that are missing on this machine (empty when everything is there). */
export function missingSystemPackages(): string[] {
  return SYSTEM_DEPENDENCIES.filter((d) => !d.present()).map((d) => d.debianPackage);
}

/** The command line a non-root user should run. */
export function installCommand(packages: readonly string[], sudo = true): string {
  return `${sudo ? 'sudo ' : ''}apt-get install -y ${packages.join(' ')}`;
}

export interface EnsureResult {
  /** Packages that were missing before anything was done. */
  missing: string[];
  /** Packages installed by this call. */
  installed: string[];
  /** Packages still missing afterwards. */
  stillMissing: string[];
  /** Why nothing (or not everything) was installed, when that is the case. */
  reason?: string;
}

export interface EnsureOptions {
  /** Install when root (default true). */
  install?: boolean;
  /** Progress output (default console.log). */
  log?: (line: string) => void;
}

/**
 * Checks the system packages and, when running as root on a Debian-like system, installs the
 * missing ones with apt-get (non-interactive). Never throws for a missing package: the result
 * says what is still missing and why.
 */
export function ensureSystemPackages(options: EnsureOptions = {}): EnsureResult {
  const log = options.log ?? ((line: string) => console.log(line));
  const missing = missingSystemPackages();
  if (missing.length === 0) return { missing, installed: [], stillMissing: [] };

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (options.install === false || !isRoot) {
    return {
      missing,
      installed: [],
      stillMissing: missing,
      reason: isRoot ? 'install disabled' : 'not root',
    };
  }
  const aptGet = findExecutable('apt-get');
  if (!aptGet) return { missing, installed: [], stillMissing: missing, reason: 'apt-get not found' };

  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]): boolean => {
    log(`+ ${args[0] === 'install' ? 'DEBIAN_FRONTEND=noninteractive ' : ''}apt-get ${args.join(' ')}`);
    const r = spawnSync(aptGet, args, { stdio: 'inherit', env });
    return r.status === 0;
  };
  if (!run(['update', '-qq'])) {
    return { missing, installed: [], stillMissing: missing, reason: 'apt-get update failed' };
  }
  const ok = run(['install', '-y', '-qq', ...missing]);
  slixmppCache = undefined;
  const stillMissing = missingSystemPackages();
  const installed = missing.filter((p) => !stillMissing.includes(p));
  return ok
    ? { missing, installed, stillMissing }
    : { missing, installed, stillMissing, reason: 'apt-get install failed' };
}
