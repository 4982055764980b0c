/**
 * Operator credentials for the `xiot` client commands, from (highest first) flags, environment variables, and
 * `~/.config/xiot/operator.yaml` (or `$XDG_CONFIG_HOME/xiot/operator.yaml`, or `--operator FILE`).
 * `agents:` (or `XIOT_AGENTS`, comma-separated) names the agents whose subscription requests are approved
 * (src/operator/contacts.ts). The password is never taken from the command line (it would show in `ps`) and never printed.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { substituteEnv } from '../config/env.js';
import { formatPath } from '../config/path.js';
import { ConfigError, type ConfigIssue } from '../core/errors.js';
import { v, validate } from '../sdk/options.js';

export interface OperatorCredentials {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /** Bare JIDs of the agents this operator uses: their presence subscription requests are approved. */
  agents: string[];
}

const fileSchema = v.strictObject({
  service: v.optional(
    v.pipe(v.string(), v.regex(/^(xmpps?|wss?):\/\//, 'expected a URI like "xmpp://host:5222"')),
  ),
  jid: v.optional(
    v.pipe(v.string(), v.regex(/^[^@/\s]+@[^@/\s]+$/, 'expected a bare JID like "alice@example.org"')),
  ),
  password: v.optional(v.pipe(v.string(), v.minLength(1))),
  resource: v.optional(v.pipe(v.string(), v.minLength(1))),
  agents: v.optional(
    v.array(
      v.pipe(v.string(), v.regex(/^[^@/\s]+@[^@/\s]+$/, 'expected a bare JID like "hall@example.org"')),
    ),
  ),
});

export function defaultOperatorFile(env: Record<string, string | undefined> = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config'), 'xiot', 'operator.yaml');
}

export function loadOperatorCredentials(
  flags: { jid?: string; service?: string; operator?: string },
  env: Record<string, string | undefined> = process.env,
): OperatorCredentials {
  const path = flags.operator ?? defaultOperatorFile(env);
  let file: v.InferOutput<typeof fileSchema> = {};
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (flags.operator || (err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError([{ path: '', message: `cannot read: ${(err as Error).message}` }], path);
    }
  }
  if (text !== undefined) {
    const issues: ConfigIssue[] = [];
    const raw = substituteEnv(parse(text) ?? {}, env, issues);
    const parsed = validate(fileSchema, raw);
    if (!parsed.ok)
      issues.push(...parsed.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
    if (issues.length || !parsed.ok) throw new ConfigError(issues, path);
    file = parsed.value;
  }
  const jid = flags.jid ?? env.XIOT_JID ?? file.jid;
  const password = env.XIOT_PASSWORD ?? file.password;
  const missing: ConfigIssue[] = [];
  if (!jid)
    missing.push({ path: 'jid', message: 'who are you? set --jid, XIOT_JID, or jid in the operator file' });
  if (!password)
    missing.push({
      path: 'password',
      message: 'set XIOT_PASSWORD or password in the operator file (never on the command line)',
    });
  if (missing.length || !jid || !password) throw new ConfigError(missing, path);
  const [username, domain] = jid.split('@') as [string, string];
  return {
    service: flags.service ?? env.XIOT_SERVICE ?? file.service ?? `xmpp://${domain}:5222`,
    domain,
    username,
    password,
    ...(file.resource ? { resource: file.resource } : {}),
    agents: [...(file.agents ?? []), ...(env.XIOT_AGENTS?.split(/[\s,]+/).filter(Boolean) ?? [])],
  };
}
