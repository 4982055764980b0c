/**
 * `xiot check`: the config validated as the agent would (errors: exit 1), then what is legal but probably
 * wrong on this machine (warnings: exit 0, since hardware may be plugged in later and owners added later).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../config/agent-config.js';
import { UsageError } from '../operator/usage.js';
import { type CliIo, parseCommand } from './args.js';

const SERIAL_TYPES = new Set(['sds011', 'pms5003', 'mhz19', 'nmea_gps', 'line_serial']);

export function configWarnings(config: AgentConfig): string[] {
  const secretsFile = config.secretsFile;
  const warnings: string[] = [];
  if (
    config.owners.length === 0 &&
    !config.registry &&
    config.provisioning.servers.length === 0 &&
    !config.provisioning.discover
  )
    warnings.push('owners: none and no provisioning server: nobody can use this agent');
  const sysRoot = config.hardware.sysRoot ?? '/sys';
  const w1 = join(sysRoot, 'bus', 'w1', 'devices');
  config.devices.forEach((d, i) => {
    const options = d.options as { port?: string; sensor?: string };
    if (SERIAL_TYPES.has(d.type) && options.port && !existsSync(options.port))
      warnings.push(
        `devices[${i}].port: ${options.port} does not exist on this machine (not plugged in yet?)`,
      );
    if (d.type === 'ds18b20') {
      if (options.sensor && !existsSync(join(w1, options.sensor)))
        warnings.push(
          `devices[${i}].sensor: no 1-Wire device ${options.sensor} under ${w1} (wiring, dtoverlay=w1-gpio?)`,
        );
      else if (!options.sensor && !existsSync(w1))
        warnings.push(
          `devices[${i}]: no 1-Wire bus at ${w1} (enable it: dtoverlay=w1-gpio in /boot/firmware/config.txt)`,
        );
    }
  });
  if (secretsFile && existsSync(secretsFile) && (statSync(secretsFile).mode & 0o077) !== 0)
    warnings.push(`secretsFile: ${secretsFile} is readable by others: chmod 600 ${secretsFile}`);
  return warnings;
}

export async function runCheck(
  configPath: string,
  io: {
    stdout: NodeJS.WritableStream;
    stderr: NodeJS.WritableStream;
    env: Record<string, string | undefined>;
  },
  options: { online?: boolean } = {},
): Promise<number> {
  const { describeConfig, loadAgentConfig } = await import('../agent/load-config.js');
  const config = loadAgentConfig(configPath, io.env);
  io.stdout.write(`${configPath}: valid\n${describeConfig(config)}\n`);
  for (const w of configWarnings(config)) io.stderr.write(`warning: ${w}\n`);
  if (!options.online) return 0;
  const { checkOnline } = await import('./check-online.js');
  const report = await checkOnline(config);
  io.stdout.write(`online check:\n${report.lines.map((l) => `  ${l}`).join('\n')}\n`);
  return report.ok ? 0 : 1;
}

export const CHECK_HELP = `Usage: xiot check --config FILE [--online]
Validates a config as the agent would (errors: exit 1) and prints what would run; warns about what is legal but
probably wrong on this machine (no owners, serial ports or 1-Wire sensors not found, a readable secrets file).
  -c, --config FILE      agent configuration (YAML)
  --online               also log in and report the transport, TLS, PEP support and the owners' subscriptions
  -h, --help             this help`;

export async function runCheckCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(
    'check',
    argv,
    { config: { type: 'string', short: 'c' }, online: { type: 'boolean' } },
    CHECK_HELP,
    io,
  );
  if (!parsed) return 0;
  const { values } = parsed;
  if (!values.config) throw new UsageError('check needs --config FILE');
  return runCheck(values.config, io, { online: values.online === true });
}
