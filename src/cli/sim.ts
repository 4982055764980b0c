/** `xiot sim`: the simulated hardware a config needs (serial devices on pseudo-terminals, a 1-Wire tree). */
import { errorMessage } from '../core/errors.js';
import { UsageError } from '../operator/usage.js';
import { type CliIo, parseCommand } from './args.js';
import { runUntilSignal } from './signals.js';

export const SIM_HELP = `Usage: xiot sim --config FILE
Starts the simulated hardware the config's devices need (serial devices on pseudo-terminals, a 1-Wire tree)
and prints where; Ctrl-C stops. The config's XMPP password variable need not be set.
  -c, --config FILE      agent configuration (YAML)
  -h, --help             this help`;

export async function runSim(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand('sim', argv, { config: { type: 'string', short: 'c' } }, SIM_HELP, io);
  if (!parsed) return 0;
  const { values } = parsed;
  if (!values.config) throw new UsageError('sim needs --config FILE');
  const { loadAgentConfig } = await import('../agent/load-config.js');
  const config = loadAgentConfig(values.config, io.env, { allowMissingEnv: true });
  const { startSimulatedHardware } = await import('../../firmware-sim/launcher.js');
  let hardware: Awaited<ReturnType<typeof startSimulatedHardware>> | undefined;
  return runUntilSignal(
    async () => {
      hardware = await startSimulatedHardware(config);
      io.stdout.write(`${hardware.summary.join('\n')}\nsimulating; Ctrl-C stops\n`);
    },
    async () => hardware?.stop(),
    (err) => io.stderr.write(`xiot sim: ${errorMessage(err)}\n`),
  );
}
