#!/usr/bin/env node
/**
 * `xiot`: the only place that reads argv and the environment for the user, installs signal handlers and calls
 * process.exit. Exit codes: 0 ok, 1 failure (invalid config, runtime error), 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { parseDuration } from './core/duration.js';
import { ConfigError, errorMessage, IotError } from './core/errors.js';
import { chooseLogFormat } from './core/log-format.js';
import { createLogger, type LogLevel } from './core/logger.js';
import { OPERATOR_COMMAND_NAMES, OPERATOR_HELP, UsageError } from './operator/usage.js';
import { tuneHeapForAgent } from './runtime/heap.js';
import { VERSION } from './version.js';

const HELP = `xiot ${VERSION}: XMPP IoT agent

Usage:
  xiot init [--non-interactive ...]   write a commented config and its secrets file (xiot init --help)
  xiot check --config FILE [--online]   validate a config and print what would run; --online also logs in
                               and reports TLS, PEP and the owners' subscriptions
  xiot agent --config FILE     run the agent (Ctrl-C stops gracefully, twice forces)
  xiot sim --config FILE       start the simulated hardware the config needs (serial ptys, 1-Wire tree)
  xiot service print|install|uninstall --config FILE   run the agent under systemd (xiot service --help)
  xiot status --config FILE    devices, availability, last readings, outbox (from the running agent or its store)
  xiot history DEVICE --config FILE [--since 1h] [--csv]   readings kept in the local store
  xiot demo [--for 30s]        throwaway Prosody + agent on simulated devices + an owner watching readings
  xiot read | set | form | watch | devices ...   operate devices (xiot read --help)
  xiot --version | --help

Options:
  -c, --config FILE            agent configuration (YAML); \${VAR} is replaced from the environment
      --log-level LEVEL        trace|debug|info|warn|error|silent (overrides log.level)
      --log-format FORMAT      pretty (default on a terminal) or json (default otherwise, e.g. under systemd)

Examples:
  xiot check --config kitchen.yaml
  KITCHEN_PASSWORD=secret xiot agent --config kitchen.yaml

${OPERATOR_HELP}`;

function usage(message: string): never {
  throw new UsageError(message);
}

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
  // Each command loads only what it runs: the agent's footprint is a benchmark target (README "Performance").
  if (OPERATOR_COMMAND_NAMES.includes(command)) {
    const { runOperatorCommand } = await import('./operator/commands.js');
    // `xiot watch | head`: a reader that went away is not an error (watch ends on it; the rest finish).
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
    return runOperatorCommand(command, rest, {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
    });
  }
  const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  if (command === 'init') return (await import('./cli/init.js')).runInit(rest, io);
  if (command === 'service') return (await import('./cli/service.js')).runService(rest, io);
  if (command === 'status') return (await import('./cli/status.js')).runStatus(rest, io);
  if (command === 'history') return (await import('./cli/history.js')).runHistory(rest, io);
  let values: {
    config?: string;
    'log-level'?: string;
    'log-format'?: string;
    online?: boolean;
    for?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        online: { type: 'boolean' },
        for: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usage(errorMessage(err));
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const level = values['log-level'];
  if (level !== undefined && !['trace', 'debug', 'info', 'warn', 'error', 'silent'].includes(level)) {
    usage(`--log-level: expected trace, debug, info, warn, error or silent, got "${level}"`);
  }
  if (command === 'agent') tuneHeapForAgent(); // before the agent's modules load
  const { loadAgentConfig } = await import('./runtime/load-config.js');
  switch (command) {
    case 'check': {
      if (!values.config) usage('check needs --config FILE');
      return (await import('./cli/check.js')).runCheck(values.config, io, { online: values.online === true });
    }
    case 'agent': {
      if (!values.config) usage('agent needs --config FILE');
      const config = loadAgentConfig(values.config);
      const format = values['log-format'];
      if (format !== undefined && format !== 'json' && format !== 'pretty')
        usage(`--log-format: expected json or pretty, got "${format}"`);
      const log = createLogger({
        level: (level as LogLevel | undefined) ?? config.log.level,
        format: chooseLogFormat(format, process.stderr),
      });
      const { superviseAgent } = await import('./cli/agent.js');
      const agent = superviseAgent(values.config, config, log, process.env);
      process.on('SIGHUP', () => void agent.reload()); // systemctl reload
      return await runUntilSignal(
        () => agent.start(),
        () => agent.stop(),
        (err) => log.error({ err: errorMessage(err) }, 'agent failed'),
      );
    }
    case 'sim': {
      if (!values.config) usage('sim needs --config FILE');
      const config = loadAgentConfig(values.config, process.env, { allowMissingEnv: true });
      const { startSimulatedHardware } = await import('../firmware-sim/launcher.js');
      let hardware: Awaited<ReturnType<typeof startSimulatedHardware>> | undefined;
      return await runUntilSignal(
        async () => {
          hardware = await startSimulatedHardware(config);
          process.stdout.write(`${hardware.summary.join('\n')}\nsimulating; Ctrl-C stops\n`);
        },
        async () => hardware?.stop(),
        (err) => process.stderr.write(`xiot sim: ${errorMessage(err)}\n`),
      );
    }
    case 'demo': {
      const forMs = values.for === undefined ? undefined : parseDuration(values.for);
      if (forMs === null || (values.for !== undefined && forMs === undefined))
        usage('--for: expected a duration like "10s"');
      const { runDemo } = await import('./devtools/demo.js');
      return await runDemo(forMs === undefined ? {} : { forMs });
    }
    default:
      usage(`unknown command "${command}" (try xiot --help)`);
  }
}

/** First SIGINT/SIGTERM stops gracefully; a second one forces the exit. */
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
