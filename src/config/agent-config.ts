/**
 * The agent configuration file: one schema, validated completely before anything starts. Every problem is
 * reported with its key path (`devices[1].interval: expected a duration like "30s"`), all at once.
 * The documented shape (README "Configuration") is a contract: extend it, never break it.
 */
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { parseDuration } from '../core/duration.js';
import { ConfigError, type ConfigIssue, errorMessage } from '../core/errors.js';
import { type FilterSpec, filterName, filterSpecSchema, NUMERIC_ONLY_FILTERS } from '../filters/index.js';
import type { ControlSpec, DeviceDefinition, FieldSpec } from '../sdk/index.js';
import { defaultTlsPolicy, TLS_POLICIES, type TlsPolicy } from '../xmpp/transport.js';
import { durationOption, type OptionIssue, showValue, v, validate } from '../sdk/options.js';
import { substituteEnv } from './env.js';
import { sharedHardwareIssues } from './resources.js';
import { readSecretsFile } from './secrets.js';
import { formatPath } from './path.js';
import { parseSchedule, SCHEDULE_HINT, type Schedule } from './schedule.js';

const duration = durationOption;
/**
 * A duration that bounds a wait (a read, a reconnect): at most `max`. Anything longer is a typo or a
 * misunderstanding (`30d` for a read timeout), and past 24.8 days setTimeout would fire at once.
 */
const waitAtMost = (max: string, what: string) =>
  v.pipe(
    duration(),
    v.check(
      (s) => (parseDuration(s) ?? 0) <= (parseDuration(max) as number),
      `${what} longer than ${max} is refused; expected a duration up to ${max} like "30s"`,
    ),
  );
const nonEmpty = v.pipe(v.string(), v.minLength(1));
const bareJid = v.pipe(
  v.string(),
  v.regex(/^[^@/\s]+@[^@/\s]+$/, 'expected a bare JID like "alice@example.org"'),
  v.toLowerCase(),
);
/** A provisioning server is an account (bare JID) or a component (a domain JID). */
const bareOrDomainJid = v.pipe(
  v.string(),
  v.regex(
    /^([^@/\s]+@)?[^@/\s]+$/,
    'expected a JID like "provisioning@example.org" or "provisioning.example.org"',
  ),
  v.toLowerCase(),
);
const SERVICE = /^(xmpps?|wss?|exi):\/\/[^/\s]+/;

const xmppSchema = v.strictObject({
  service: v.pipe(
    v.string(),
    v.regex(
      SERVICE,
      'expected a URI like "xmpp://host:5222", "xmpps://host:5223", "wss://host/xmpp-websocket" or "exi://hub:port"',
    ),
  ),
  domain: nonEmpty,
  username: nonEmpty,
  password: v.pipe(
    v.string(),
    v.minLength(1, 'must not be empty (write $' + '{ENV_VARIABLE} to keep it out of the file)'),
  ),
  resource: v.optional(nonEmpty),
  reconnect: v.optional(
    v.strictObject({
      min: v.optional(waitAtMost('1h', 'a reconnect delay'), '1s'),
      max: v.optional(waitAtMost('1h', 'a reconnect delay'), '8s'),
    }),
    { min: '1s', max: '8s' },
  ),
  timeout: v.optional(duration(), '10s'),
  /** Default: `required` unless the service's host is loopback (src/xmpp/transport.ts defaultTlsPolicy). */
  tls: v.optional(v.picklist(TLS_POLICIES, 'expected "required", "optional" or "off"')),
  keepalive: v.optional(
    v.strictObject({
      interval: v.optional(waitAtMost('1h', 'a keepalive interval'), '60s'),
      timeout: v.optional(waitAtMost('1h', 'a keepalive timeout'), '30s'),
    }),
    { interval: '60s', timeout: '30s' },
  ),
});

const ACCESS_MODELS = ['presence', 'roster', 'whitelist', 'authorize'] as const;

const publishSchema = v.strictObject({
  service: v.optional(nonEmpty, 'pep'),
  node: v.optional(nonEmpty),
  // Never `open`: anyone on the network could read the readings (architecture: pubsub nodes are never open).
  accessModel: v.optional(
    v.pipe(
      v.string(),
      v.check(
        (m) => m !== 'open',
        'open is refused: anyone could read the readings; use presence (PEP default), roster, whitelist or authorize',
      ),
      v.picklist(ACCESS_MODELS, `expected one of ${ACCESS_MODELS.join(', ')}`),
    ),
  ),
  enabled: v.optional(v.boolean(), true),
});

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;

const count = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min));
/**
 * What one peer may ask of the agent (issue 13): every limit has a default a Raspberry Pi can afford; the peer that
 * exceeds one gets an error naming the setting (README "Limits").
 */
export const LIMIT_DEFAULTS = {
  stanzaSize: 262_144,
  parametersPerSet: 64,
  nodesPerRequest: 64,
  fieldsPerRequest: 256,
  stringLength: 1024,
  chatBody: 1024,
  readouts: 32,
  queuedReadouts: 8,
  requestRate: 50,
  requestBurst: 100,
} as const;
const d = LIMIT_DEFAULTS;
const limitsSchema = v.strictObject({
  stanzaSize: v.optional(count(4096), d.stanzaSize),
  parametersPerSet: v.optional(count(1), d.parametersPerSet),
  nodesPerRequest: v.optional(count(1), d.nodesPerRequest),
  fieldsPerRequest: v.optional(count(1), d.fieldsPerRequest),
  stringLength: v.optional(count(1), d.stringLength),
  chatBody: v.optional(count(16), d.chatBody),
  readouts: v.optional(count(1), d.readouts),
  queuedReadouts: v.optional(count(0), d.queuedReadouts),
  /** Requests per second per requester (bare JID), refilled continuously; 0: no rate limit. */
  requestRate: v.optional(v.pipe(v.number(), v.minValue(0)), d.requestRate),
  requestBurst: v.optional(count(1), d.requestBurst),
});

/** XEP-0347 meta tags from config: NAME: value (a number becomes a `num` tag). KEY is the agent's own. */
const registryObject = v.strictObject({
  jid: bareOrDomainJid,
  tags: v.optional(
    v.pipe(
      v.record(
        v.pipe(
          v.string(),
          v.regex(/^[^:#\s]{1,32}$/, "tag names are 1 to 32 characters without ':', '#' or whitespace"),
          v.check((n) => n.toUpperCase() !== 'KEY', 'KEY is generated by the agent and kept in its store'),
        ),
        v.union([v.pipe(v.string(), v.minLength(1), v.maxLength(128)), v.pipe(v.number(), v.finite())]),
      ),
      v.check(
        (tags) => new Set(Object.keys(tags).map((k) => k.toUpperCase())).size === Object.keys(tags).length,
        'tag names are case-insensitive: a name is given twice',
      ),
    ),
    {},
  ),
});

const baseSchema = v.strictObject({
  xmpp: xmppSchema,
  owners: v.optional(v.array(bareJid), []),
  store: v.optional(nonEmpty),
  /** `NAME=value` file whose values `${NAME}` may reference (src/config/secrets.ts). */
  secretsFile: v.optional(nonEmpty),
  publish: v.optional(publishSchema, { service: 'pep', enabled: true }),
  history: v.optional(v.strictObject({ retention: v.optional(duration(), '30d') }), { retention: '30d' }),
  hardware: v.optional(
    v.strictObject({
      procRoot: v.optional(v.string()),
      sysRoot: v.optional(v.string()),
      gpioChipBase: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
    }),
    {},
  ),
  provisioning: v.optional(
    v.pipe(
      v.strictObject({
        servers: v.optional(v.array(bareOrDomainJid), []),
        /** Also look for provisioning components on our XMPP server (disco). */
        discover: v.optional(v.boolean(), false),
      }),
      v.check((p) => p.servers.length > 0 || p.discover, 'name provisioning servers or set discover: true'),
    ),
  ),
  registry: v.optional(
    v.union([bareOrDomainJid, registryObject], 'expected a registry JID or { jid, tags }'),
  ),
  log: v.optional(v.strictObject({ level: v.optional(v.picklist(LOG_LEVELS), 'info') }), { level: 'info' }),
  limits: v.optional(limitsSchema, { ...LIMIT_DEFAULTS }),
  devices: v.pipe(
    v.array(v.record(v.string(), v.unknown()), 'expected a list of devices'),
    v.minLength(1, 'at least one device is needed'),
  ),
});

const deviceBaseSchema = v.object({
  id: v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected letters, digits, "_", "." or "-" (at most 64)'),
  ),
  type: v.string(),
  interval: v.optional(v.string(SCHEDULE_HINT)),
  timeout: v.optional(waitAtMost('1h', 'a read timeout')),
  fields: v.optional(
    v.record(
      v.string(),
      v.strictObject({
        filters: v.optional(v.array(filterSpecSchema), []),
        enabled: v.optional(v.boolean(), true),
      }),
    ),
    {},
  ),
});
const DEVICE_BASE_KEYS = new Set(['id', 'type', 'interval', 'timeout', 'fields']);

export interface FieldConfig {
  filters: FilterSpec[];
  enabled: boolean;
}

export interface DeviceConfig {
  id: string;
  type: string;
  /** Undefined for stream and edge sources (they push readings). */
  schedule: Schedule | undefined;
  timeoutMs: number;
  fields: Record<string, FieldConfig>;
  options: unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- options differ per type
  definition: DeviceDefinition<any>;
  /** The field specs for these options, resolved once. */
  fieldSpecs: FieldSpec[];
  /** The XEP-0325 parameters for these options, resolved once (empty for sensors). */
  controlSpecs: ControlSpec[];
}

export interface AgentConfig {
  xmpp: {
    service: string;
    domain: string;
    username: string;
    password: string;
    resource?: string;
    reconnect: { minMs: number; maxMs: number };
    timeoutMs: number;
    tls: TlsPolicy;
    keepalive: { intervalMs: number; timeoutMs: number };
  };
  owners: string[];
  store: string;
  /** Absolute path of `secretsFile`, when the config names one. */
  secretsFile?: string;
  publish: { service: string; node: string; accessModel: string; enabled: boolean };
  history: { retentionMs: number };
  /** `gpioChipBase`: added to BCM line numbers instead of reading it from /sys/class/gpio/gpiochip*. */
  hardware: { procRoot?: string; sysRoot?: string; gpioChipBase?: number };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent' };
  /** XEP-0324: servers that decide for non-owners (none: only owners are served). */
  provisioning: { servers: string[]; discover: boolean };
  /** XEP-0347: the registry an agent without owners registers with, and the meta tags it adds. */
  registry?: { jid: string; tags: Record<string, string | number> };
  limits: Limits;
  devices: DeviceConfig[];
}

export type Limits = { -readonly [K in keyof typeof LIMIT_DEFAULTS]: number };

export const SENSORDATA_NODE = 'urn:xmpp:iot:sensordata';

export interface ParseOptions {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- options differ per type
  definitions: readonly DeviceDefinition<any>[];
  env?: Record<string, string | undefined>;
  /** The file the text came from: relative paths (store) resolve against its folder, errors name it. */
  sourcePath?: string;
  /** Leave `${NAME}` as written when NAME is unset (`xiot sim` never logs in, so it needs no password). */
  allowMissingEnv?: boolean;
}

function configIssues(issues: readonly OptionIssue[], prefix: (string | number)[]): ConfigIssue[] {
  return issues.map((issue) => ({ path: formatPath([...prefix, ...issue.path]), message: issue.message }));
}

/** Parses and validates a whole agent configuration; throws ConfigError listing every issue. */
export function parseAgentConfig(text: string, options: ParseOptions): AgentConfig {
  const issues: ConfigIssue[] = [];
  const doc = parseDocument(text, { prettyErrors: true });
  // After a handful, YAML errors are mostly echoes of the first (a file that is not YAML at all).
  for (const err of doc.errors.slice(0, 10)) {
    const pos = err.linePos?.[0];
    // The yaml package ends its message with the position we already put in the path: say it once.
    const first = (err.message.split('\n')[0] ?? 'YAML syntax error').replace(
      / at line \d+, column \d+:?$/,
      '',
    );
    const message = first.length > 100 ? `${first.slice(0, 97)}...` : first;
    issues.push({ path: pos ? `line ${pos.line}, column ${pos.col}` : '', message });
  }
  if (doc.errors.length > 10)
    issues.push({ path: '', message: `${doc.errors.length - 10} more YAML errors` });
  if (issues.length) throw new ConfigError(issues, options.sourcePath);
  const baseDir = options.sourcePath ? dirname(resolve(options.sourcePath)) : process.cwd();
  const parsed: unknown = doc.toJS();
  const env = withSecrets(parsed, baseDir, options.env ?? process.env, issues);
  const raw = substituteEnv(parsed, env, options.allowMissingEnv ? [] : issues);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(
      [{ path: '', message: 'expected a mapping with xmpp, owners and devices' }],
      options.sourcePath,
    );
  }
  const base = validate(baseSchema, raw);
  if (!base.ok) issues.push(...configIssues(base.issues, []));
  const rawDevices = (raw as { devices?: unknown }).devices;
  const devices: DeviceConfig[] = [];
  const claimants: Parameters<typeof sharedHardwareIssues>[0][number][] = [];
  if (Array.isArray(rawDevices)) {
    const seen = new Map<string, number>();
    rawDevices.forEach((entry, index) => {
      const id = (entry as { id?: unknown } | null)?.id;
      if (typeof id === 'string') {
        const previous = seen.get(id);
        if (previous !== undefined) {
          issues.push({
            path: `devices[${index}].id`,
            message: `duplicate id "${id}" (also devices[${previous}])`,
          });
        }
        seen.set(id, index);
      }
      const device = parseDevice(entry, index, options.definitions, issues);
      if (device) {
        devices.push(device);
        claimants.push({ index, id: device.id, type: device.type, options: device.options });
      }
    });
    issues.push(...sharedHardwareIssues(claimants));
  }
  if (issues.length || !base.ok) throw new ConfigError(issues, options.sourcePath);
  const c = base.value;
  const store = c.store
    ? isAbsolute(c.store)
      ? c.store
      : resolve(baseDir, c.store)
    : join(defaultDataDir(), `${c.xmpp.username}@${c.xmpp.domain}.db`);
  const onPep = c.publish.service === 'pep';
  return {
    xmpp: {
      service: c.xmpp.service,
      domain: c.xmpp.domain,
      username: c.xmpp.username,
      password: c.xmpp.password,
      ...(c.xmpp.resource ? { resource: c.xmpp.resource } : {}),
      reconnect: {
        minMs: parseDuration(c.xmpp.reconnect.min) as number,
        maxMs: parseDuration(c.xmpp.reconnect.max) as number,
      },
      timeoutMs: parseDuration(c.xmpp.timeout) as number,
      tls: c.xmpp.tls ?? defaultTlsPolicy(c.xmpp.service),
      keepalive: {
        intervalMs: parseDuration(c.xmpp.keepalive.interval) as number,
        timeoutMs: parseDuration(c.xmpp.keepalive.timeout) as number,
      },
    },
    owners: [...new Set(c.owners)],
    store,
    ...(c.secretsFile
      ? { secretsFile: isAbsolute(c.secretsFile) ? c.secretsFile : resolve(baseDir, c.secretsFile) }
      : {}),
    publish: {
      service: c.publish.service,
      // On a shared pubsub service, nodes are named after the agent so several agents do not collide.
      node:
        c.publish.node ??
        (onPep ? SENSORDATA_NODE : `${SENSORDATA_NODE}/${c.xmpp.username}@${c.xmpp.domain}`),
      // Security by default: PEP items go to presence-subscribed friends; service nodes to whom the owner lists.
      accessModel: c.publish.accessModel ?? (onPep ? 'presence' : 'whitelist'),
      enabled: c.publish.enabled,
    },
    history: { retentionMs: parseDuration(c.history.retention) as number },
    hardware: c.hardware,
    log: c.log,
    provisioning: { servers: c.provisioning?.servers ?? [], discover: c.provisioning?.discover ?? false },
    ...(c.registry
      ? {
          registry:
            typeof c.registry === 'string'
              ? { jid: c.registry, tags: {} }
              : {
                  jid: c.registry.jid,
                  tags: Object.fromEntries(
                    Object.entries(c.registry.tags).map(([k, x]) => [k.toUpperCase(), x]),
                  ),
                },
        }
      : {}),
    limits: c.limits,
    devices,
  };
}

/** The environment with the values of `secretsFile` added underneath (the environment wins). */
export function withSecrets(
  parsed: unknown,
  baseDir: string,
  env: Record<string, string | undefined>,
  issues: ConfigIssue[],
): Record<string, string | undefined> {
  const file = (parsed as { secretsFile?: unknown } | null)?.secretsFile;
  if (typeof file !== 'string' || !file) return env;
  const path = isAbsolute(file) ? file : resolve(baseDir, file);
  try {
    const secrets = readSecretsFile(path);
    // Its mode (should be 600) is `xiot check`'s business: a warning, not a reason to stop the agent.
    return { ...secrets.values, ...env };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
    issues.push({ path: 'secretsFile', message: `cannot read ${path}: ${why}` });
    return env;
  }
}

function parseDevice(
  entry: unknown,
  index: number,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- options differ per type
  definitions: readonly DeviceDefinition<any>[],
  issues: ConfigIssue[],
): DeviceConfig | undefined {
  const at = ['devices', index];
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return undefined; // reported by baseSchema
  const record = entry as Record<string, unknown>;
  const base = validate(deviceBaseSchema, record);
  if (!base.ok) {
    issues.push(...configIssues(base.issues, at));
    return undefined;
  }
  const d = base.value;
  const definition = definitions.find((def) => def.type === d.type);
  if (!definition) {
    const known = definitions.map((def) => def.type).join(', ');
    issues.push({
      path: formatPath([...at, 'type']),
      message: `unknown device type "${d.type}" (known: ${known})`,
    });
    return undefined;
  }
  const optionInput = Object.fromEntries(Object.entries(record).filter(([k]) => !DEVICE_BASE_KEYS.has(k)));
  const parsedOptions = validate(definition.options, optionInput, [...DEVICE_BASE_KEYS]);
  if (!parsedOptions.ok) issues.push(...configIssues(parsedOptions.issues, at));
  // Field names are still checked when the options are wrong, as long as the fields do not depend on them.
  const fieldSpecs = parsedOptions.ok
    ? typeof definition.fields === 'function'
      ? definition.fields(parsedOptions.value)
      : definition.fields
    : Array.isArray(definition.fields)
      ? definition.fields
      : undefined;
  if (!fieldSpecs) return undefined;
  let schedule: Schedule | undefined;
  if (definition.source.kind === 'poll') {
    schedule = parseSchedule(d.interval ?? definition.source.defaultInterval);
    if (!schedule)
      issues.push({
        path: formatPath([...at, 'interval']),
        message: `${SCHEDULE_HINT}, got ${showValue(d.interval)}`,
      });
  } else if (d.interval !== undefined) {
    issues.push({
      path: formatPath([...at, 'interval']),
      message: `a ${definition.source.kind} device reports on its own; use field filters (throttle, heartbeat) instead`,
    });
  }
  for (const [name, fieldConfig] of Object.entries(d.fields)) {
    const spec = fieldSpecs.find((f) => f.name === name);
    if (!spec) {
      issues.push({
        path: formatPath([...at, 'fields', name]),
        message: `unknown field (${d.type} has: ${fieldSpecs.map((f) => f.name).join(', ')})`,
      });
      continue;
    }
    fieldConfig.filters.forEach((filter, i) => {
      const fname = filterName(filter);
      if (spec.type !== 'numeric' && (NUMERIC_ONLY_FILTERS as readonly string[]).includes(fname)) {
        issues.push({
          path: formatPath([...at, 'fields', name, 'filters', i]),
          message: `${fname} applies to numeric fields only (${name} is ${spec.type})`,
        });
      }
    });
  }
  if (!parsedOptions.ok) return undefined;
  const intervalMs = schedule?.kind === 'every' ? schedule.ms : 10_000;
  return {
    id: d.id,
    type: d.type,
    schedule,
    timeoutMs: d.timeout
      ? (parseDuration(d.timeout) as number)
      : Math.min(10_000, Math.max(1000, intervalMs)),
    fields: d.fields,
    options: parsedOptions.value,
    definition,
    fieldSpecs,
    controlSpecs:
      typeof definition.controls === 'function'
        ? definition.controls(parsedOptions.value)
        : (definition.controls ?? []),
  };
}

function defaultDataDir(): string {
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share'), 'xmpp-iot');
}
