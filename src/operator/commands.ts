/**
 * `xiot read | set | form | watch | devices | claim | things | disown | rules`: operating devices from the command line, over the same client
 * modules the hub uses (sensor-client for XEP-0323 and PEP, control-client for XEP-0325). Human tables by
 * default, `--json` for scripts (same data). Exit codes: 0 done, 1 refused or failed, 2 bad usage,
 * 3 cannot connect or log in, 4 some of several devices failed.
 */
import { ConfigError, errorMessage } from '../core/errors.js';
import { cmdClaim } from './claim.js';
import { cmdDevices } from './devices.js';
import { cmdDisown } from './disown.js';
import { cmdForm } from './form.js';
import { cmdRead } from './read.js';
import { cmdRules } from './rules.js';
import { ConnectError, type Io } from './session.js';
import { cmdSet } from './set.js';
import { cmdThings } from './things.js';
import { EXIT, UsageError } from './usage.js';
import { cmdWatch } from './watch.js';

export type { Io } from './session.js';
export { EXIT, OPERATOR_HELP, UsageError } from './usage.js';

export const OPERATOR_COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  read: cmdRead,
  set: cmdSet,
  form: cmdForm,
  watch: cmdWatch,
  devices: cmdDevices,
  claim: cmdClaim,
  things: cmdThings,
  disown: cmdDisown,
  rules: cmdRules,
};

/** Runs one operator command; maps connection failures to exit 3 and failures to exit 1. */
export async function runOperatorCommand(name: string, argv: string[], io: Io): Promise<number> {
  const run = OPERATOR_COMMANDS[name];
  if (!run) throw new UsageError(`unknown command "${name}"`);
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof ConnectError) {
      io.stderr.write(`xiot: cannot connect: ${err.message}\n`);
      return EXIT.connect;
    }
    io.stderr.write(`xiot: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }
}
