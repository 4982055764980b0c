/**
 * `xiot init`: writes a commented agent config and its secrets file (mode 600), interactively (prompts with
 * defaults) or from flags (`--non-interactive`, for scripts); `--register` creates the agent's account by
 * XEP-0077 in-band registration first, with a generated password.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { formatSecret } from '../config/secrets.js';

import { UsageError } from '../operator/usage.js';
import { VERSION } from '../version.js';
import { detectHardware, type Hardware, type Roots, SYSTEM_ROOTS } from './detect.js';
import { type InitAnswers, renderConfig } from './init-config.js';
import { parseCommand } from './args.js';
import { createPrompter, type Prompter } from './prompt.js';

export const INIT_HELP = `Usage: xiot init [--config FILE] [options]

Writes FILE (default ./xiot.yaml) and its secrets file FILE-without-extension.secrets (mode 600).
Asks for each value (Enter keeps the default in brackets) unless --non-interactive is given.

  --non-interactive        take everything from flags and defaults, ask nothing
  --domain DOMAIN          the XMPP server's domain (required with --non-interactive)
  --service URI            default xmpp://DOMAIN:5222
  --username NAME          the agent's account (default: this host's name)
  --password PASSWORD      its password (or --register to create the account with a generated one)
  --register               create the account by XEP-0077 in-band registration (the server must allow it)
  --owner JID              a bare JID that may read and control the agent (repeatable)
  --registry JID           a thing registry (XEP-0347, e.g. xiot hub): without owners the agent registers there
                           and is claimed with its claim code (xiot claim-code)
  --store FILE             SQLite store (default ./data/USERNAME.db, relative to the config)
  --force                  overwrite an existing config and secrets file`;

export interface InitIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Interactive mode only. */
  prompter?: Prompter;
  roots?: Roots;
  register?: (o: { service: string; domain: string; username: string; password: string }) => Promise<void>;
}

const BARE_JID = /^[^@/\s]+@[^@/\s]+$/;

export function passwordVariable(username: string): string {
  const name = username
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return `${/^[A-Z_]/.test(name) ? name : `X${name}`}_PASSWORD`;
}

export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

function defaultUsername(): string {
  return (
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9._-]/g, '-') || 'agent'
  );
}

export function secretsPathFor(configPath: string): string {
  const ext = extname(configPath);
  return join(dirname(configPath), `${basename(configPath, ext)}.secrets`);
}

export async function runInit(argv: string[], io: InitIo): Promise<number> {
  const parsed = parseCommand(
    'init',
    argv,
    {
      config: { type: 'string', short: 'c' },
      'non-interactive': { type: 'boolean' },
      domain: { type: 'string' },
      service: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      register: { type: 'boolean' },
      owner: { type: 'string', multiple: true },
      registry: { type: 'string' },
      store: { type: 'string' },
      force: { type: 'boolean' },
    },
    INIT_HELP,
    io,
  );
  if (!parsed) return 0;
  const values: Record<string, string | boolean | string[] | undefined> = parsed.values;
  const configPath = resolve((values.config as string | undefined) ?? 'xiot.yaml');
  const secretsPath = secretsPathFor(configPath);
  if (!values.force) {
    for (const p of [configPath, secretsPath])
      if (existsSync(p)) throw new UsageError(`init: ${p} exists (--force overwrites it)`);
  }
  const hw = detectHardware(io.roots ?? SYSTEM_ROOTS);
  const interactive = !values['non-interactive'];
  const owners = (values.owner as string[] | undefined) ?? [];
  for (const o of owners)
    if (!BARE_JID.test(o)) throw new UsageError(`init: --owner "${o}" is not a bare JID`);
  if (values.registry !== undefined && !/^([^@/\s]+@)?[^@/\s]+$/.test(values.registry as string))
    throw new UsageError(`init: --registry "${values.registry as string}" is not a JID`);

  let domain = values.domain as string | undefined;
  let service = values.service as string | undefined;
  let username = (values.username as string | undefined) ?? defaultUsername();
  let password = values.password as string | undefined;
  let register = values.register === true;
  let ownerList = owners;
  if (interactive) {
    const p = io.prompter ?? createPrompter(process.stdin, process.stdout);
    try {
      io.stdout.write(describeHardware(hw));
      domain = await p.ask('XMPP server domain', domain, (s) =>
        /^[^\s@/]+$/.test(s) ? undefined : 'a domain like example.org',
      );
      service = await p.ask('Server address', service ?? `xmpp://${domain}:5222`, (s) =>
        /^(xmpps?|wss?):\/\/\S+$/.test(s) ? undefined : 'a URI like xmpp://host:5222',
      );
      username = await p.ask("The agent's username", username, (s) =>
        /^[^\s@/]+$/.test(s) ? undefined : 'no spaces, "@" or "/"',
      );
      register = await p.confirm(`Create ${username}@${domain} by in-band registration`, register);
      if (!register) password = await p.secret(`Password of ${username}@${domain}`, password);
      const answer = await p.ask('Owners (bare JIDs, comma-separated)', ownerList.join(', '), (s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
          .every((x) => BARE_JID.test(x))
          ? undefined
          : 'bare JIDs like alice@example.org, comma-separated',
      );
      ownerList = answer
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
    } finally {
      p.close();
    }
  } else {
    if (!domain) throw new UsageError('init: --non-interactive needs --domain');
    if (!password && !register)
      throw new UsageError('init: --non-interactive needs --password or --register');
  }
  if (!domain) throw new UsageError('init: no domain');
  service ??= `xmpp://${domain}:5222`;
  if (register) password ??= generatePassword();
  if (!password) throw new UsageError('init: no password');

  if (register) {
    const doRegister = io.register ?? (async (o) => (await import('../xmpp/register.js')).registerAccount(o));
    io.stdout.write(`registering ${username}@${domain} on ${service}...\n`);
    await doRegister({ service, domain, username, password });
    io.stdout.write(`registered ${username}@${domain} and logged in with it\n`);
  }

  const answers: InitAnswers = {
    service,
    domain,
    username,
    resource: 'agent',
    owners: ownerList,
    ...(values.registry ? { registry: values.registry as string } : {}),
    store: (values.store as string | undefined) ?? `./data/${username}.db`,
    secretsFile: `./${basename(secretsPath)}`,
    passwordVariable: passwordVariable(username),
    oneWireDevices: true,
  };
  mkdirSync(dirname(configPath), { recursive: true });
  // Secrets first, created 600 (not chmod-ed after: no window where others could read it).
  writeFileSync(
    secretsPath,
    `# Secrets of ${configPath} (NAME=value; systemd EnvironmentFile syntax). Keep it mode 600.\n${formatSecret(answers.passwordVariable, password)}\n`,
    { mode: 0o600 },
  );
  chmodSync(secretsPath, 0o600); // an existing file (--force) keeps its old mode otherwise
  writeFileSync(configPath, renderConfig(answers, hw, VERSION));
  io.stdout.write(
    [
      `wrote ${configPath}`,
      `wrote ${secretsPath} (mode 600, holds ${answers.passwordVariable})`,
      ...(ownerList.length
        ? []
        : values.registry
          ? [
              `no owners: the agent registers with ${values.registry as string}; claim it with its code (xiot claim-code)`,
            ]
          : ['warning: no owners: nobody can use this agent until you add one']),
      '',
      'Next:',
      `  xiot check --config ${configPath}                  # validate`,
      `  xiot agent --config ${configPath}                  # try it in the foreground`,
      `  sudo xiot service install --config ${configPath}   # run it under systemd`,
      '',
    ].join('\n'),
  );
  return 0;
}

export function describeHardware(hw: Hardware): string {
  return [
    `board:        ${hw.model ?? 'not a Raspberry Pi (or no device tree)'}`,
    `GPIO base:    ${hw.gpioChipBase ?? 'no sysfs GPIO chip found'}`,
    `serial ports: ${hw.serialPorts.join(', ') || 'none'}`,
    `1-Wire:       ${hw.oneWire.join(', ') || 'none'}`,
    '',
  ].join('\n');
}
