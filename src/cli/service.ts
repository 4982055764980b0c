/**
 * `xiot service print|install|uninstall`: the agent as a systemd service under a dedicated user.
 * Hardening keeps what sensors need: /sys stays writable (sysfs GPIO export, so no ProtectKernelTunables) and
 * /dev stays visible (serial ports, so no PrivateDevices); everything else is read-only but the store's folder.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IotError } from '../core/errors.js';
import { UsageError } from '../operator/usage.js';
import { type CliIo, parseCommand } from './args.js';

export const SERVICE_HELP = `Usage: xiot service print|install|uninstall --config FILE [options]

  print        write the systemd unit to stdout
  install      create the user, give it the store's folder and the secrets file, install and start the unit
  uninstall    stop and disable the unit and remove its file (the user, config and store are kept)

  --config FILE     the agent config (absolute path recommended: the unit names it)
  --name NAME       unit name (default xmpp-iot: /etc/systemd/system/xmpp-iot.service)
  --user USER       the dedicated account the agent runs as (default xiot; created by install)
  --unit-dir DIR    where install writes the unit (default /etc/systemd/system)
  --no-start        install without enabling and starting it`;

export interface UnitOptions {
  configPath: string;
  storeDir: string;
  user: string;
  node: string;
  cli: string;
  description?: string;
}

/** Quotes a word for a unit's command line when it needs it (systemd.service(5) "Command lines"). */
function unitWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

/** A path in ReadWritePaths= and friends: spaces are not allowed unescaped. */
function unitPath(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/ /g, '\\x20');
}

export function renderUnit(o: UnitOptions): string {
  return `# Written by xiot service. Reload the config with: systemctl reload <unit> (SIGHUP).
[Unit]
Description=${o.description ?? 'xmpp-iot agent'} (${o.configPath})
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=${o.user}
Group=${o.user}
# gpio: /sys/class/gpio (Raspberry Pi OS's udev rules), dialout: serial ports.
SupplementaryGroups=gpio dialout
ExecStart=${[o.node, o.cli, 'agent', '--config', o.configPath].map(unitWord).join(' ')}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5s
# The agent stops gracefully on SIGTERM (outbox kept in the store); SIGKILL after this.
TimeoutStopSec=20s
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=${unitPath(o.storeDir)}
ProtectHome=read-only
PrivateTmp=yes
ProtectControlGroups=yes
ProtectKernelModules=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
`;
}

/** This installation's entry point (the real file, not the npm bin symlink). */
export function cliPath(): string {
  const js = fileURLToPath(new URL('../cli.js', import.meta.url));
  // From the sources (tests run src/*.ts), the built entry point of the same checkout.
  const path = existsSync(js) ? js : join(dirname(js), '..', 'dist', 'src', 'cli.js');
  return existsSync(path) ? realpathSync(path) : path;
}

export interface ServiceIo extends CliIo {
  /** Runs a system command (tests replace it). */
  exec?: (file: string, args: string[]) => void;
}

export async function runService(argv: string[], io: ServiceIo): Promise<number> {
  const parsed = parseCommand(
    'service',
    argv,
    {
      config: { type: 'string', short: 'c' },
      name: { type: 'string' },
      user: { type: 'string' },
      'unit-dir': { type: 'string' },
      'no-start': { type: 'boolean' },
    },
    SERVICE_HELP,
    io,
    { positionals: true },
  );
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const action = positionals[0];
  if (action === undefined) {
    io.stdout.write(`${SERVICE_HELP}\n`);
    return 2;
  }
  if (!['print', 'install', 'uninstall'].includes(action) || positionals.length > 1)
    throw new UsageError(`service: expected print, install or uninstall, got "${positionals.join(' ')}"`);
  const name = values.name ?? 'xmpp-iot';
  if (!/^[\w@.-]+$/.test(name)) throw new UsageError(`service: --name "${name}" is not a unit name`);
  const user = values.user ?? 'xiot';
  const unitDir = values['unit-dir'] ?? '/etc/systemd/system';
  const unitFile = join(unitDir, `${name}.service`);
  const exec =
    io.exec ?? ((file: string, args: string[]) => void execFileSync(file, args, { stdio: 'inherit' }));

  if (action === 'uninstall') {
    if (!existsSync(unitFile)) throw new IotError('IOT_ERR_CONFIG', `${unitFile} does not exist`);
    if (!values['no-start']) exec('systemctl', ['disable', '--now', `${name}.service`]);
    rmSync(unitFile);
    if (!values['no-start']) exec('systemctl', ['daemon-reload']);
    io.stdout.write(`removed ${unitFile}; the user ${user}, the config and the store are kept\n`);
    return 0;
  }

  if (!values.config) throw new UsageError(`service ${action} needs --config FILE`);
  const configPath = resolve(values.config);
  const { loadAgentConfig } = await import('../agent/load-config.js');
  const config = loadAgentConfig(configPath, io.env);
  const storeDir = dirname(config.store);
  const unit = renderUnit({ configPath, storeDir, user, node: process.execPath, cli: cliPath() });
  if (action === 'print') {
    io.stdout.write(unit);
    return 0;
  }

  // install
  if (!userExists(user)) {
    exec('useradd', [
      '--system',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      user,
    ]);
    io.stdout.write(`created system user ${user}\n`);
  }
  const ids = userIds(user);
  mkdirSync(storeDir, { recursive: true });
  if (ids) chownSync(storeDir, ids.uid, ids.gid);
  const secrets = secretsFileOf(configPath);
  if (secrets && ids && existsSync(secrets)) chownSync(secrets, ids.uid, ids.gid);
  if (configPath.startsWith('/home/') || storeDir.startsWith('/home/'))
    io.stderr.write(
      `warning: ${configPath} or its store is under /home, which ${user} usually cannot read: /etc/xmpp-iot and /var/lib/xmpp-iot are safer\n`,
    );
  mkdirSync(unitDir, { recursive: true });
  writeFileSync(unitFile, unit);
  io.stdout.write(`wrote ${unitFile}\n`);
  if (!values['no-start']) {
    exec('systemctl', ['daemon-reload']);
    exec('systemctl', ['enable', '--now', `${name}.service`]);
    io.stdout.write(`started ${name}; follow it with: journalctl -u ${name} -f\n`);
  }
  return 0;
}

function userExists(user: string): boolean {
  return userIds(user) !== undefined;
}

function userIds(user: string): { uid: number; gid: number } | undefined {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const [n, , uid, gid] = line.split(':');
    if (n === user) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/** The secrets file a config names, resolved against the config's folder. */
function secretsFileOf(configPath: string): string | undefined {
  const m = /^secretsFile:\s*("?)([^"#\n]+)\1\s*(#.*)?$/m.exec(readFileSync(configPath, 'utf8'));
  const file = m?.[2]?.trim();
  return file ? resolve(dirname(configPath), file) : undefined;
}
