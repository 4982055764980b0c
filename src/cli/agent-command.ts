/**
 * `xiot agent`: argv and help. The agent's modules load only after the heap is tuned (src/agent/heap.ts), so
 * this file imports nothing of them statically.
 */
import { tuneHeapForAgent } from '../agent/heap.js';
import { errorMessage } from '../core/errors.js';
import { chooseLogFormat } from '../core/log-format.js';
import { createLogger, type LogLevel } from '../core/logger.js';
import { UsageError } from '../operator/usage.js';
import { type CliIo, checkLogLevel, parseCommand } from './args.js';
import { runUntilSignal } from './signals.js';

export const AGENT_HELP = `Usage: xiot agent --config FILE [options]
Runs the agent: reads the devices, stores and publishes their readings, answers owners (Ctrl-C stops
gracefully, twice forces; SIGHUP or systemctl reload re-reads the config).
  -c, --config FILE      agent configuration (YAML); \${VAR} is replaced from the environment or secretsFile
  --log-level LEVEL      trace|debug|info|warn|error|silent (overrides log.level)
  --log-format FORMAT    pretty (default on a terminal) or json (default otherwise, e.g. under systemd)
  -h, --help             this help`;

export async function runAgentCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(
    'agent',
    argv,
    {
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
    },
    AGENT_HELP,
    io,
  );
  if (!parsed) return 0;
  const { values } = parsed;
  if (!values.config) throw new UsageError('agent needs --config FILE');
  const level = values['log-level'];
  checkLogLevel(level);
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty')
    throw new UsageError(`--log-format: expected json or pretty, got "${format}"`);
  tuneHeapForAgent(); // before the agent's modules load
  const { loadAgentConfig } = await import('../agent/load-config.js');
  const config = loadAgentConfig(values.config, io.env);
  const log = createLogger({
    level: (level as LogLevel | undefined) ?? config.log.level,
    format: chooseLogFormat(format, process.stderr),
  });
  const { superviseAgent } = await import('./agent.js');
  // The QR code goes to a terminal only: never into a log (one JSON line per entry) nor a pipe.
  const stdout = process.stdout;
  const showClaimCode = stdout.isTTY
    ? (code: { text: string; uri: string }) => {
        void import('./claim-qr.js')
          .then(({ formatClaimCode }) => formatClaimCode(code, { qr: true }))
          .then((shown) =>
            stdout.write(
              `Unclaimed: its owner claims it with xiot claim CODE (or by scanning the QR code)\n${shown}` +
                `Shown again by: xiot claim-code --config ${values.config}\n`,
            ),
          )
          .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'could not draw the claim QR code'));
      }
    : undefined;
  const agent = superviseAgent(values.config, config, log, io.env, showClaimCode);
  process.on('SIGHUP', () => void agent.reload()); // systemctl reload
  return runUntilSignal(
    () => agent.start(),
    () => agent.stop(),
    (err) => log.error({ err: errorMessage(err) }, 'agent failed'),
  );
}
