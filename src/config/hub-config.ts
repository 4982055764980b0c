/**
 * The hub configuration file, validated like the agent's (src/config/agent-config.ts): every problem at once,
 * each with its key path. Today the hub connects as an XEP-0114 component (the usual deployment: the registry
 * gets its own domain, no roster needed); a plain-account mode, for servers where one cannot add components,
 * comes later as `xmpp: { account: … }`.
 *
 *   xmpp:
 *     component: { service: "xmpp://127.0.0.1:5347", domain: registry.example.org, secret: "${REGISTRY_SECRET}" }
 *   store: hub.db
 *   registry: { claimAttemptsPerMinute: 5 }
 *   history: { store: history.db, retention: { raw: 30d, aggregates: 365d, resolution: 1m } }
 *   things: [kitchen@example.org]   # ingested besides the things claimed in the registry
 *
 * `store` (the registry and provisioning state: small, synchronous) is always SQLite; only the fleet history,
 * big and written all the time, may move to PostgreSQL (`history.store: postgres://…`).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import { durationOption, v, validate } from '../sdk/options.js';
import { LOG_LEVELS, withSecrets } from './agent-config.js';
import { substituteEnv } from './env.js';
import { formatPath } from './path.js';

const nonEmpty = v.pipe(v.string(), v.minLength(1));

const hubSchema = v.strictObject({
  xmpp: v.strictObject({
    component: v.strictObject({
      service: v.pipe(
        v.string(),
        v.regex(/^xmpp:\/\/[^/\s]+$/, 'expected the component port as "xmpp://host:port"'),
      ),
      domain: v.pipe(
        v.string(),
        v.regex(/^[^@/\s]+$/, 'expected a domain like "registry.example.org"'),
        v.toLowerCase(),
      ),
      secret: v.pipe(
        v.string(),
        v.minLength(1, 'must not be empty (write $' + '{ENV_VARIABLE} to keep it out of the file)'),
      ),
    }),
  }),
  store: v.optional(nonEmpty, 'hub.db'),
  secretsFile: v.optional(nonEmpty),
  registry: v.optional(
    v.strictObject({
      claimAttemptsPerMinute: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(1, 'at least 1'), v.maxValue(1000, 'at most 1000')),
        5,
      ),
    }),
    { claimAttemptsPerMinute: 5 },
  ),
  log: v.optional(v.strictObject({ level: v.optional(v.picklist(LOG_LEVELS), 'info') }), { level: 'info' }),
  history: v.optional(
    v.strictObject({
      store: v.optional(nonEmpty),
      retention: v.optional(
        v.strictObject({
          raw: v.optional(durationOption(), '30d'),
          aggregates: v.optional(durationOption(), '365d'),
          resolution: v.optional(durationOption(), '1m'),
        }),
        {},
      ),
    }),
    {},
  ),
  /** Things whose readings the hub keeps besides those claimed in its registry (src/hub/ingest.ts). */
  things: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.regex(/^[^@/\s]+@[^@/\s]+$/, 'expected a bare JID like "kitchen@example.org"'),
          v.toLowerCase(),
        ),
      ),
      v.maxLength(100_000, 'at most 100000 things'),
    ),
    [],
  ),
});

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

export interface HubConfig {
  xmpp: { component: { service: string; domain: string; secret: string } };
  /** Absolute path of the SQLite file. */
  store: string;
  registry: { claimAttemptsPerMinute: number };
  log: { level: (typeof LOG_LEVELS)[number] };
  history: {
    /**
     * Absolute path of the history's SQLite file (default: history.db beside `store`), or a postgres:// URL
     * (it may hold a password: never log it).
     */
    store: string;
    /** Raw readings kept rawMs, then folded into resolutionMs-wide min/max/avg aggregates kept aggregatesMs. */
    retention: { rawMs: number; aggregatesMs: number; resolutionMs: number };
  };
  /** Bare JIDs of things to ingest besides the registry's claimed ones. */
  things?: string[];
}

/** Parses and validates a hub configuration; throws ConfigError listing every issue. */
export function parseHubConfig(
  text: string,
  options: { env?: Record<string, string | undefined>; sourcePath?: string } = {},
): HubConfig {
  const issues: ConfigIssue[] = [];
  const doc = parseDocument(text, { prettyErrors: true });
  for (const err of doc.errors.slice(0, 10)) {
    const pos = err.linePos?.[0];
    issues.push({
      path: pos ? `line ${pos.line}, column ${pos.col}` : '',
      message: (err.message.split('\n')[0] ?? 'YAML syntax error').replace(/ at line \d+, column \d+:?$/, ''),
    });
  }
  if (issues.length) throw new ConfigError(issues, options.sourcePath);
  const baseDir = options.sourcePath ? dirname(resolve(options.sourcePath)) : process.cwd();
  const parsed: unknown = doc.toJS();
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError(
      [{ path: '', message: 'expected a mapping with xmpp and store' }],
      options.sourcePath,
    );
  const env = withSecrets(parsed, baseDir, options.env ?? process.env, issues);
  const raw = substituteEnv(parsed, env, issues);
  const result = validate(hubSchema, raw);
  if (!result.ok)
    issues.push(...result.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
  if (issues.length || !result.ok) throw new ConfigError(issues, options.sourcePath);
  const c = result.value;
  const ms = (d: string | undefined, fallback: string) => parseDuration(d ?? fallback) as number;
  const retention = {
    rawMs: ms(c.history.retention?.raw, '30d'),
    aggregatesMs: ms(c.history.retention?.aggregates, '365d'),
    resolutionMs: ms(c.history.retention?.resolution, '1m'),
  };
  if (retention.rawMs <= 0) issues.push({ path: 'history.retention.raw', message: 'must be longer than 0' });
  if (retention.aggregatesMs < retention.rawMs)
    issues.push({ path: 'history.retention.aggregates', message: 'must be at least as long as raw' });
  if (retention.resolutionMs < 1000 || retention.resolutionMs % 1000 !== 0)
    issues.push({
      path: 'history.retention.resolution',
      message: 'expected whole seconds, at least 1s (e.g. "1m")',
    });
  if (issues.length) throw new ConfigError(issues, options.sourcePath);
  const store = c.store === ':memory:' || isAbsolute(c.store) ? c.store : resolve(baseDir, c.store);
  // By default the history lives beside the hub's store, in its own file (history-sqlite.ts says why).
  const historyStore = c.history.store ?? (store === ':memory:' ? store : join(dirname(store), 'history.db'));
  return {
    xmpp: { component: c.xmpp.component },
    store,
    registry: c.registry,
    log: c.log,
    history: {
      store:
        POSTGRES_URL.test(historyStore) || historyStore === ':memory:' || isAbsolute(historyStore)
          ? historyStore
          : resolve(baseDir, historyStore),
      retention,
    },
    ...(c.things.length ? { things: [...new Set(c.things)] } : {}),
  };
}

export function loadHubConfig(
  path: string,
  env: Record<string, string | undefined> = process.env,
): HubConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read the file: ${(err as Error).message}` }], path);
  }
  return parseHubConfig(text, { env, sourcePath: path });
}
