/**
 * The hub configuration file, validated like the agent's (src/config/agent-config.ts): every problem at once,
 * each with its key path. The hub connects either as an XEP-0114 component (the usual deployment: the registry
 * gets its own domain, no roster needed) or, for servers where one cannot add a component, as a plain account
 * through the agent's client transport (src/xmpp/transport.ts: TLS policy, reconnect, keepalive). Exactly one.
 *
 *   xmpp:
 *     component: { service: "xmpp://127.0.0.1:5347", domain: registry.example.org, secret: "${REGISTRY_SECRET}" }
 *     # or: account: { service: "xmpp://xmpp.example.org:5222", domain: example.org, username: hub,
 *     #                password: "${HUB_PASSWORD}", resource: hub, tls: required }
 *   store: hub.db
 *   registry: { claimAttemptsPerMinute: 5 }
 *   provisioning: { askTimeout: 5s, pendingFor: 1d, maxPendingPerOwner: 50 }
 *   http: { host: 127.0.0.1, port: 8080 }       # the dashboard (src/hub/web); absent: no HTTP server
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
import { TLS_POLICIES, type TlsPolicy } from '../xmpp/transport.js';
import { LOG_LEVELS, withSecrets } from './agent-config.js';
import { substituteEnv } from './env.js';
import { formatPath } from './path.js';

const nonEmpty = v.pipe(v.string(), v.minLength(1));
const durationBetween = (min: string, max: string) =>
  v.pipe(
    durationOption(),
    v.check((s) => {
      const ms = parseDuration(s) ?? 0;
      return ms >= (parseDuration(min) as number) && ms <= (parseDuration(max) as number);
    }, `expected a duration from ${min} to ${max}`),
  );
/**
 * XEP-0324 provisioning server (src/hub/provisioning-server.ts). `askTimeout` stays below our agent's 10 s
 * question timeout: a question the thing gave up on is asked again instead of being answered.
 */
const PROVISIONING_DEFAULTS = { askTimeout: '5s', pendingFor: '1d', maxPendingPerOwner: 50 };

const secret = v.pipe(
  v.string(),
  v.minLength(1, 'must not be empty (write $' + '{ENV_VARIABLE} to keep it out of the file)'),
);

/** The hub's own account: the agent's `xmpp` keys that make sense for a hub (src/config/agent-config.ts). */
const accountSchema = v.strictObject({
  service: v.optional(
    v.pipe(
      v.string(),
      v.regex(
        /^(xmpps?|wss?):\/\/[^/\s]+/,
        'expected a URI like "xmpp://host:5222", "xmpps://host:5223" or "wss://host/xmpp-websocket"',
      ),
    ),
  ),
  domain: v.pipe(v.string(), v.regex(/^[^@/\s]+$/, 'expected a domain like "example.org"'), v.toLowerCase()),
  username: v.pipe(
    v.string(),
    v.regex(/^[^@/\s]+$/, 'expected the local part only, like "hub" (the JID is username@domain)'),
  ),
  password: secret,
  resource: v.optional(v.pipe(v.string(), v.minLength(1), v.regex(/^\S+$/, 'no whitespace')), 'hub'),
  tls: v.optional(v.picklist(TLS_POLICIES, 'expected "required", "optional" or "off"')),
});

const hubSchema = v.strictObject({
  // Exactly one of the two, checked after validation: a check here would echo the section, secret included.
  xmpp: v.strictObject({
    component: v.optional(
      v.strictObject({
        service: v.pipe(
          v.string(),
          v.regex(/^xmpp:\/\/[^/\s]+$/, 'expected the component port as "xmpp://host:port"'),
        ),
        domain: v.pipe(
          v.string(),
          v.regex(/^[^@/\s]+$/, 'expected a domain like "registry.example.org"'),
          v.toLowerCase(),
        ),
        secret,
      }),
    ),
    account: v.optional(accountSchema),
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
  provisioning: v.optional(
    v.strictObject({
      askTimeout: v.optional(durationBetween('0s', '9s'), PROVISIONING_DEFAULTS.askTimeout),
      pendingFor: v.optional(durationBetween('1m', '30d'), PROVISIONING_DEFAULTS.pendingFor),
      maxPendingPerOwner: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(1, 'at least 1'), v.maxValue(1000, 'at most 1000')),
        PROVISIONING_DEFAULTS.maxPendingPerOwner,
      ),
    }),
    PROVISIONING_DEFAULTS,
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
  http: v.optional(
    v.strictObject({
      host: v.optional(nonEmpty, '127.0.0.1'),
      port: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(0, 'a port 0-65535'), v.maxValue(65535, 'a port 0-65535')),
        8080,
      ),
      /** Where operators log in (c2s); default: the component's host, port 5222. */
      login: v.optional(
        v.strictObject({
          service: v.optional(
            v.pipe(v.string(), v.regex(/^(xmpps?|wss?):\/\/[^/\s]+/, 'expected "xmpp://host:5222"')),
          ),
          tls: v.optional(v.picklist(TLS_POLICIES)),
        }),
        {},
      ),
      /** Served behind a TLS-terminating reverse proxy: cookies get `Secure`. */
      secureCookies: v.optional(v.boolean(), false),
      /** The origin browsers use (`https://hub.example.org`) when a proxy rewrites Host; POSTs must come from it. */
      origin: v.optional(
        v.pipe(v.string(), v.regex(/^https?:\/\/[^/\s]+$/, 'expected "https://host[:port]"')),
      ),
      sessionMinutes: v.optional(
        v.pipe(
          v.number(),
          v.integer(),
          v.minValue(1, 'at least 1'),
          v.maxValue(7 * 24 * 60, 'at most a week'),
        ),
        60,
      ),
      /** When set, GET /metrics needs `Authorization: Bearer TOKEN`. */
      metricsToken: v.optional(nonEmpty),
    }),
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

/** The hub as a plain account; the client transport's defaults apply (TLS `required` unless on loopback). */
export interface HubAccount {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource: string;
  tls?: TlsPolicy;
}

export interface HubHttpConfig {
  host: string;
  port: number;
  login: { service: string; tls?: TlsPolicy };
  secureCookies: boolean;
  origin?: string;
  /** Idle time after which a dashboard session ends (and its XMPP session with it). */
  sessionMinutes: number;
  metricsToken?: string;
}

export interface HubConfig {
  /** Exactly one of the two. */
  xmpp:
    | { component: { service: string; domain: string; secret: string }; account?: undefined }
    | { account: HubAccount; component?: undefined };
  /** Absolute path of the SQLite file. */
  store: string;
  registry: { claimAttemptsPerMinute: number };
  /** Optional in code (tests build configs by hand); the file's defaults come from parseHubConfig. */
  provisioning?: { askTimeoutMs: number; pendingForMs: number; maxPendingPerOwner: number };
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
  /** The dashboard and HTTP API; absent: none. */
  http?: HubHttpConfig;
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
  if (result.ok && (result.value.xmpp.component === undefined) === (result.value.xmpp.account === undefined))
    issues.push({
      path: 'xmpp',
      message:
        'give exactly one of component (an XEP-0114 component: service, domain, secret) or account ' +
        '(a plain XMPP account: domain, username, password)',
    });
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
  const xmpp: HubConfig['xmpp'] = c.xmpp.component
    ? { component: c.xmpp.component }
    : { account: accountOf(c.xmpp.account as v.InferOutput<typeof accountSchema>) };
  // Operators log in to the dashboard on the server's client port: beside the component port, or the account's.
  const clientService = xmpp.component
    ? `xmpp://${new URL(xmpp.component.service).hostname}:5222`
    : xmpp.account.service;
  return {
    xmpp,
    store,
    registry: c.registry,
    provisioning: {
      askTimeoutMs: parseDuration(c.provisioning.askTimeout) as number,
      pendingForMs: parseDuration(c.provisioning.pendingFor) as number,
      maxPendingPerOwner: c.provisioning.maxPendingPerOwner,
    },
    log: c.log,
    history: {
      store:
        POSTGRES_URL.test(historyStore) || historyStore === ':memory:' || isAbsolute(historyStore)
          ? historyStore
          : resolve(baseDir, historyStore),
      retention,
    },
    ...(c.http ? { http: httpConfig(c.http, clientService) } : {}),
    ...(c.things.length ? { things: [...new Set(c.things)] } : {}),
  };
}

type RawHttp = NonNullable<v.InferOutput<typeof hubSchema>['http']>;

function httpConfig(h: RawHttp, clientService: string): HubHttpConfig {
  return {
    host: h.host,
    port: h.port,
    login: {
      service: h.login.service ?? clientService,
      ...(h.login.tls ? { tls: h.login.tls } : {}),
    },
    secureCookies: h.secureCookies,
    ...(h.origin ? { origin: h.origin } : {}),
    sessionMinutes: h.sessionMinutes,
    ...(h.metricsToken ? { metricsToken: h.metricsToken } : {}),
  };
}

const accountOf = (a: v.InferOutput<typeof accountSchema>): HubAccount => ({
  ...a,
  // Like an agent without `service`: the domain's standard client port (STARTTLS).
  service: a.service ?? `xmpp://${a.domain}:5222`,
});

/** The hub's address: the component's domain, or the account's bare JID. */
export const hubJid = (config: HubConfig): string =>
  config.xmpp.component
    ? config.xmpp.component.domain
    : `${config.xmpp.account.username.toLowerCase()}@${config.xmpp.account.domain}`;

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
