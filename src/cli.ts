#!/usr/bin/env node
/**
 * `xiot`: the only place that reads argv and the environment for the user and calls process.exit (besides the
 * forced stop in cli/signals.ts). One file per subcommand in cli/ (its options and its `--help`); each is loaded
 * only when run: the agent's footprint is a benchmark target (README "Performance").
 * Exit codes: 0 ok, 1 failure (invalid config, runtime error), 2 bad usage.
 */
import { ConfigError, IotError } from './core/errors.js';
import { OPERATOR_COMMAND_NAMES, OPERATOR_HELP, UsageError } from './operator/usage.js';
import type { CliIo } from './cli/args.js';
import { VERSION } from './version.js';

const HELP = `xiot ${VERSION}: XMPP IoT agent

Usage:
  xiot init [--non-interactive ...]   write a commented config and its secrets file
  xiot check --config FILE [--online]   validate a config and print what would run; --online also logs in
  xiot agent --config FILE     run the agent (Ctrl-C stops gracefully, twice forces)
  xiot sim --config FILE       start the simulated hardware the config needs (serial ptys, 1-Wire tree)
  xiot service print|install|uninstall --config FILE   run the agent under systemd
  xiot status --config FILE    devices, availability, last readings, outbox (from the running agent or its store)
  xiot history DEVICE --config FILE [--since 1h] [--csv]   readings kept in the local store
  xiot claim-code --config FILE   the agent's claim code (XEP-0347), to claim it from a registry
  xiot hub --config FILE       run the hub (XEP-0347 thing registry, XEP-0324 provisioning server)
  xiot demo [--for 30s]        throwaway Prosody + agent on simulated devices + an owner watching readings
  xiot read | set | form | watch | devices ...   operate devices
  xiot claim | things | disown ...   claim things from a registry, search it, give things up
  xiot rules list|allow|deny ...     who else may read or control your things (the hub's rules)
  xiot --version | --help
Each command's options: xiot COMMAND --help

Examples:
  xiot check --config kitchen.yaml
  KITCHEN_PASSWORD=secret xiot agent --config kitchen.yaml

${OPERATOR_HELP}`;

type Run = (argv: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Run>> = {
  init: async () => (await import('./cli/init.js')).runInit,
  check: async () => (await import('./cli/check.js')).runCheckCommand,
  agent: async () => (await import('./cli/agent-command.js')).runAgentCommand,
  sim: async () => (await import('./cli/sim.js')).runSim,
  service: async () => (await import('./cli/service.js')).runService,
  status: async () => (await import('./cli/status.js')).runStatus,
  history: async () => (await import('./cli/history.js')).runHistory,
  demo: async () => (await import('./cli/demo.js')).runDemoCommand,
  hub: async () => (await import('./cli/hub.js')).runHubCommand,
  'claim-code': async () => (await import('./cli/claim-code.js')).runClaimCode,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  if (OPERATOR_COMMAND_NAMES.includes(command)) {
    const { runOperatorCommand } = await import('./operator/commands.js');
    // `xiot watch | head`: a reader that went away is not an error (watch ends on it; the rest finish).
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
    return runOperatorCommand(command, rest, io);
  }
  const load = COMMANDS[command];
  if (!load) throw new UsageError(`unknown command "${command}" (try xiot --help)`);
  return (await load())(rest, io);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`xiot: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
    else if (err instanceof IotError) process.stderr.write(`xiot: ${err.message}\n`);
    else process.stderr.write(`xiot: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
