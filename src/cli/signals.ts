/** The lifecycle of the long-running subcommands (agent, sim): first SIGINT/SIGTERM graceful, a second forced. */
import { errorMessage } from '../core/errors.js';

export function runUntilSignal(
  start: () => Promise<void>,
  stop: () => Promise<void>,
  onError: (err: unknown) => void,
): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`\n${signal} again: forcing exit\n`);
        process.exit(130);
      }
      stopping = true;
      process.stderr.write(`\n${signal}: stopping (again to force)\n`);
      stop().then(
        () => resolve(0),
        (err) => {
          onError(err);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // Last resort for a long-running agent: a promise rejection nobody handled is a bug to report, not a
    // reason to stop reading sensors (Node's default would exit). Causes are fixed where they arise.
    process.on('unhandledRejection', (reason) => {
      process.stderr.write(`xiot: unhandled rejection (a bug; please report): ${errorMessage(reason)}\n`);
    });
    start().catch((err) => {
      onError(err);
      if (!stopping) {
        stopping = true;
        stop().finally(() => resolve(1));
      }
    });
  });
}
