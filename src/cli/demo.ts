/** `xiot demo`: a throwaway Prosody, an agent on simulated devices and an owner watching its readings. */
import { parseDuration } from '../core/duration.js';
import { UsageError } from '../operator/usage.js';
import { type CliIo, parseCommand } from './args.js';

export const DEMO_HELP = `Usage: xiot demo [--for 30s]
Starts a throwaway Prosody on loopback, an agent on simulated devices and an owner that prints what the
agent publishes; stops after --for, or on Ctrl-C.
  --for DURATION         how long to run (default: until Ctrl-C)
  -h, --help             this help`;

export async function runDemoCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand('demo', argv, { for: { type: 'string' } }, DEMO_HELP, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const forMs = values.for === undefined ? undefined : parseDuration(values.for);
  if (forMs === null || (values.for !== undefined && forMs === undefined))
    throw new UsageError('--for: expected a duration like "10s"');
  const { runDemo } = await import('../devtools/demo.js');
  return runDemo(forMs === undefined ? {} : { forMs });
}
