/**
 * Guards for integration suites that need system packages:
 *
 *   describe.skipIf(!requireProsody())('...', () => { ... });
 *
 * Present: returns true. Missing: with CI set, throws (the suite fails and names the fix);
 * otherwise prints the reason once and returns false (the suite is skipped).
 */
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

export function requireSlixmpp(): boolean {
  return requirement(hasSlixmpp(), `slixmpp (for ${SYSTEM_PYTHON})`, 'python3-slixmpp');
}

export function requireSocat(): boolean {
  return requirement(findExecutable('socat') !== undefined, 'socat', 'socat');
}
