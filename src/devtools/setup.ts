/**
 * `node dist/src/devtools/setup.js [--check]`: makes sure the system packages the tests and the
 * demo need (Prosody, ejabberd, socat, python3-slixmpp, FUSE) are installed.
 *
 * - Everything present: prints nothing more than one line, exits 0.
 * - Missing and root: `apt-get update -qq`, then `apt-get install -y -qq <packages>` (non-interactive).
 * - Missing and not root: prints the `sudo apt-get install` line to run and exits 1; with `--check`
 *   it only warns and exits 0 (the suites that need the packages then fail in CI, skip elsewhere).
 */
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureSystemPackages, installCommand, SYSTEM_DEPENDENCIES } from './system-deps.js';

export function runSetup(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const result = ensureSystemPackages();
  if (result.missing.length === 0) {
    console.log(
      `setup: system packages present (${SYSTEM_DEPENDENCIES.map((d) => d.debianPackage).join(', ')})`,
    );
    return 0;
  }
  if (result.installed.length > 0) {
    console.log(`setup: installed ${result.installed.join(' ')}`);
    for (const service of ['prosody', 'ejabberd', 'postgresql'].filter((p) => result.installed.includes(p))) {
      // Debian's postinst starts the system service (on 5222; ejabberd also an epmd on 4369). The tests and
      // the demo run private instances on free ports and never use epmd; stopping it frees 5222.
      const stopped = spawnSync('service', [service, 'stop'], { stdio: 'ignore' }).status === 0;
      console.log(
        stopped
          ? `setup: stopped the system ${service} service that apt started (the tests run private instances)`
          : `setup: note: Debian may have started its own ${service} service; the tests do not use it. Stop it with: service ${service} stop`,
      );
    }
  }
  if (result.stillMissing.length === 0) return 0;

  const missingNames = SYSTEM_DEPENDENCIES.filter((d) => result.stillMissing.includes(d.debianPackage))
    .map((d) => `  ${d.debianPackage}: ${d.purpose}`)
    .join('\n');
  const why = result.reason ? ` (${result.reason})` : '';
  const message =
    `setup: missing system packages${why}:\n${missingNames}\n` +
    `Install them with:\n  ${installCommand(result.stillMissing, result.reason === 'not root')}`;
  if (check) {
    console.warn(
      `${message}\nsetup: warning: continuing (--check); suites that need them skip, or fail when CI is set`,
    );
    return 0;
  }
  console.error(message);
  return 1;
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  process.exitCode = runSetup(process.argv.slice(2));
}
