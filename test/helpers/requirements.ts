/**
 * Guards for integration suites that need system packages:
 *
 *   describe.skipIf(!requireProsody())('...', () => { ... });
 *
 * Present: returns true. Missing: with CI set, throws (the suite fails and names the fix);
 * otherwise prints the reason once and returns false (the suite is skipped).
 */
import { existsSync } from 'node:fs';
import { findPostgresBin } from '../../src/devtools/postgres.js';
import { findExecutable, hasSlixmpp, SYSTEM_PYTHON } from '../../src/devtools/system-deps.js';

const warned = new Set<string>();

function requirement(present: boolean, what: string, debianPackage: string): boolean {
  if (present) return true;
  const reason =
    `${what} is not installed; run: apt-get install -y ${debianPackage} ` +
    '(or `npm run build && node dist/src/devtools/setup.js` as root)';
  if (process.env.CI) throw new Error(reason);
  if (!warned.has(debianPackage)) {
    warned.add(debianPackage);
    console.warn(`skipping: ${reason}`);
  }
  return false;
}

export function requireProsody(): boolean {
  const present = findExecutable('prosody') !== undefined && findExecutable('prosodyctl') !== undefined;
  return requirement(present, 'Prosody', 'prosody');
}

/** ejabberd 23.01 (Debian), started as user ejabberd: needs root, as CI has. */
export function requireEjabberd(): boolean {
  const present = findExecutable('ejabberdctl') !== undefined && findExecutable('runuser') !== undefined;
  return (
    requirement(present, 'ejabberd', 'ejabberd') &&
    need(
      process.getuid?.() === 0,
      'root for ejabberd',
      'the throwaway ejabberd runs as user ejabberd and must be started by root; run the tests as root (CI does)',
    )
  );
}

export function requireSlixmpp(): boolean {
  return requirement(hasSlixmpp(), `slixmpp (for ${SYSTEM_PYTHON})`, 'python3-slixmpp');
}

/**
 * PostgreSQL (Debian's package) for the fleet history store's suite: a throwaway server per test file, started
 * as user postgres when the tests run as root (CI).
 */
export function requirePostgres(): boolean {
  let present = true;
  try {
    findPostgresBin();
  } catch {
    present = false;
  }
  return (
    requirement(present, 'PostgreSQL', 'postgresql') &&
    need(
      process.getuid?.() !== 0 || findExecutable('runuser') !== undefined,
      'runuser',
      'runuser is missing (PostgreSQL runs as user postgres when the tests run as root); run: apt-get install -y util-linux',
    )
  );
}

/** openssl makes the throwaway certificates of the TLS transport tests. */
export function requireOpenssl(): boolean {
  return requirement(findExecutable('openssl') !== undefined, 'openssl', 'openssl');
}

export function requireSocat(): boolean {
  return requirement(findExecutable('socat') !== undefined, 'socat', 'socat');
}

/** Like `requirement`, for needs that no package fixes: `reason` already names the fix. */
function need(present: boolean, key: string, reason: string): boolean {
  if (present) return true;
  if (process.env.CI) throw new Error(reason);
  if (!warned.has(key)) {
    warned.add(key);
    console.warn(`skipping: ${reason}`);
  }
  return false;
}

/** Root: mounting (FUSE, bind mounts in a private namespace) needs it. CI runs as root. */
export function requireRoot(): boolean {
  return need(
    process.getuid?.() === 0,
    'root',
    'these tests mount filesystems and need root; run them as root (CI does), e.g. sudo -E npx vitest run',
  );
}

/** FUSE with the tools to build and mount the GPIO simulator, and unshare for private mount namespaces. */
export function requireFuse(): boolean {
  if (!existsSync('/dev/fuse')) {
    return need(
      false,
      '/dev/fuse',
      '/dev/fuse is missing; load the fuse module (modprobe fuse) or, in a container, pass --device /dev/fuse',
    );
  }
  return (
    requirement(findExecutable('fusermount3') !== undefined, 'FUSE 3 (fusermount3)', 'fuse3') &&
    requirement(existsSync('/usr/include/fuse3/fuse.h'), 'libfuse3 headers', 'libfuse3-dev') &&
    requirement(findExecutable('pkg-config') !== undefined, 'pkg-config', 'pkg-config') &&
    requirement(findExecutable('gcc') !== undefined, 'gcc', 'gcc') &&
    requirement(findExecutable('unshare') !== undefined, 'unshare', 'util-linux')
  );
}

/** `systemd-analyze verify` checks the unit `xiot service` writes (Debian package systemd). */
export function requireSystemdAnalyze(): boolean {
  return requirement(findExecutable('systemd-analyze') !== undefined, 'systemd-analyze', 'systemd');
}
