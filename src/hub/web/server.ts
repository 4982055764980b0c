/**
 * The hub's web dashboard and its JSON API, served by the hub process over node:http (no framework: a dozen
 * routes). Pages are static HTML shells whose plain ES modules (src/hub/web/public, shipped as they are) fetch
 * the API and build the DOM with textContent only: names, tags and values come from devices and are never
 * parsed as HTML. uPlot is served from node_modules.
 *
 * Security (README "Dashboard"): every route but the login page, static files and /metrics needs a session
 * (sessions.ts); POSTs need JSON, the page's own Origin and the session's CSRF token; a thing that is not the
 * operator's answers 404 exactly like one that does not exist; bodies are bounded; login attempts are
 * rate-limited per JID and per client address. Plain HTTP on 127.0.0.1 by default: TLS belongs to a reverse
 * proxy (`http.secureCookies: true` behind it).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import type { HubHttpConfig } from '../../config/hub-config.js';
import { errorMessage, IotError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { ControlError } from '../../iot/control-client.js';
import { KEY_TAG } from '../../iot/discovery.js';
import { XmppStanzaError } from '../../xmpp/transport.js';
import type { ThingAccess } from '../access.js';
import type { HistoryStore, StoredReading } from '../history.js';
import type { ThingRecord } from '../store.js';
import { createClaimThrottle } from '../registry.js';
import { createLatestCache } from './latest-cache.js';
import { createMetrics, type IngestStatsSource } from './metrics.js';
import { isBareJid, LoginRefusedError, loginOperator, type OperatorLink } from './operator-link.js';
import {
  cookieValue,
  createSessions,
  type DashboardSession,
  SESSION_COOKIE,
  sameToken,
  sessionCookie,
} from './sessions.js';

export interface WebServerDeps {
  config: HubHttpConfig;
  access: ThingAccess;
  history: HistoryStore;
  log: Logger;
  ingest?: IngestStatsSource;
  /** Replaces the XMPP login (unit tests of the HTTP layer). */
  login?: (jid: string, password: string) => Promise<OperatorLink>;
}

export interface WebServer {
  /** The bound address (port 0 in the config picks a free one). */
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const MAX_BODY = 16 * 1024;
const MAX_POINTS = 5000;
const MAX_SSE_PER_SESSION = 4;
const SSE_MAX_BUFFERED = 1024 * 1024;
const LOGIN_TIMEOUT_MS = 10_000;
/** Logins in flight at once (each is an XMPP connection): more wait for none, they are refused. */
const MAX_PENDING_LOGINS = 16;
/** Wrong logins per JID, and per client address, in a sliding minute. */
const LOGIN_FAILURES_PER_MINUTE = { jid: 5, address: 20 };

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

/** An HTTP failure with a short message for the client (never the request echoed back). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** src/hub/web/public beside this module (tsx/vitest), or from dist/src/hub/web/ up to the package root. */
function publicDir(): string {
  const candidates = [
    new URL('./public/', import.meta.url),
    new URL('../../../../src/hub/web/public/', import.meta.url),
  ].map((u) => fileURLToPath(u));
  const found = candidates.find((d) => existsSync(`${d}app.html`));
  if (!found)
    throw new IotError(
      'IOT_ERR_CONFIG',
      `the dashboard's files are missing (looked in ${candidates.join(', ')})`,
    );
  return found;
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

function loadStatic(): Map<string, { body: Buffer; type: string }> {
  const dir = publicDir();
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of ['app.html', 'login.html', 'app.js', 'login.js', 'style.css'])
    files.set(name, {
      body: readFileSync(`${dir}${name}`),
      type: TYPES[name.split('.').pop() as string] as string,
    });
  const require = createRequire(import.meta.url);
  for (const [name, path] of [
    ['uPlot.iife.min.js', 'uplot/dist/uPlot.iife.min.js'],
    ['uPlot.min.css', 'uplot/dist/uPlot.min.css'],
  ] as const)
    files.set(name, {
      body: readFileSync(require.resolve(path)),
      type: TYPES[name.split('.').pop() as string] as string,
    });
  return files;
}

/** What the API shows of a thing's tags: never KEY (the claim code). */
const visibleTags = (t: ThingRecord) =>
  t.tags.filter((tag) => tag.name !== KEY_TAG).map((tag) => ({ name: tag.name, value: String(tag.value) }));

const displayName = (t: ThingRecord) => {
  const name = t.tags.find((tag) => tag.name === 'NAME');
  return name ? String(name.value) : t.jid;
};

const readingJson = (r: StoredReading) => ({
  node: r.nodeId,
  field: r.name,
  value: r.value,
  type: r.type,
  ...(r.unit ? { unit: r.unit } : {}),
  timestamp: r.timestamp,
  qos: r.qos,
  flags: r.flags,
  ...(r.writable !== undefined ? { writable: r.writable } : {}),
});

/** A plotted value: numbers as they are, booleans as 1/0; anything else is not plotted. */
export function plotValue(r: Pick<StoredReading, 'value' | 'type'>): number | undefined {
  if (r.type === 'boolean') return r.value === 'true' || r.value === '1' ? 1 : 0;
  const n = Number(r.value);
  return r.value.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

/** A time parameter: milliseconds since the epoch, or an ISO date-time. */
function timeParam(name: string, raw: string | null, fallback: number): number {
  if (raw === null || raw === '') return fallback;
  const n = /^-?\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(n))
    throw new HttpError(400, `${name}: expected milliseconds since 1970 or an ISO date-time`);
  return n;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'send the body as application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `the body is over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

export function createWebServer(deps: WebServerDeps): WebServer {
  const { config, access, history, log } = deps;
  const files = loadStatic();
  const sessions = createSessions({ idleMs: config.sessionMinutes * 60_000 });
  const metrics = createMetrics(history, deps.ingest);
  const latestValues = createLatestCache(history);
  const byJid = createClaimThrottle(LOGIN_FAILURES_PER_MINUTE.jid);
  const byAddress = createClaimThrottle(LOGIN_FAILURES_PER_MINUTE.address);
  const login =
    deps.login ??
    ((jid: string, password: string) =>
      loginOperator({
        service: config.login.service,
        ...(config.login.tls ? { tls: config.login.tls } : {}),
        jid,
        password,
        timeoutMs: LOGIN_TIMEOUT_MS,
        log: log.child({ module: 'operator-xmpp', operator: jid }),
      }));
  const streams = new Map<string, Set<ServerResponse>>();
  let server: Server | undefined;
  let pendingLogins = 0;
  /** The Host values accepted (undefined: any, when listening on every address without an `origin`). */
  let allowedHosts: Set<string> | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let url = '';

  const send = (res: ServerResponse, status: number, body: string | Buffer, type: string, headers = {}) => {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'Content-Type': type,
      'Cache-Control': 'no-store',
      ...headers,
    });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers = {}) =>
    send(res, status, JSON.stringify(body), 'application/json; charset=utf-8', headers);
  const file = (res: ServerResponse, name: string, status = 200) => {
    const f = files.get(name) as { body: Buffer; type: string };
    send(res, status, f.body, f.type, name.endsWith('.html') ? {} : { 'Cache-Control': 'no-cache' });
  };
  const cookieOpts = { secure: config.secureCookies, maxAgeS: config.sessionMinutes * 60 };

  const sessionOf = (req: IncomingMessage) =>
    sessions.lookup(cookieValue(req.headers.cookie, SESSION_COOKIE));

  /** CSRF: a POST must come from our own origin (SameSite=Strict already keeps the cookie off cross-site ones). */
  const checkOrigin = (req: IncomingMessage) => {
    const origin = req.headers.origin;
    const allowed = config.origin ?? `${config.secureCookies ? 'https' : 'http'}://${req.headers.host ?? ''}`;
    if (origin !== allowed)
      throw new HttpError(403, 'cross-origin request refused (the Origin header must be this site)');
  };
  const checkCsrf = (req: IncomingMessage, session: DashboardSession) => {
    checkOrigin(req);
    const token = req.headers['x-csrf-token'];
    if (typeof token !== 'string' || !sameToken(token, session.csrf))
      throw new HttpError(403, 'missing or wrong X-CSRF-Token (reload the page)');
  };

  const requireSession = (req: IncomingMessage) => {
    const s = sessionOf(req);
    if (!s) throw new HttpError(401, 'log in first');
    return s;
  };

  /** The operator's thing, or 404 (also for things of others: existence does not leak). */
  const thingParam = (session: DashboardSession, raw: string) => {
    let jid: string;
    try {
      jid = decodeURIComponent(raw);
    } catch {
      throw new HttpError(400, 'the JID in the path is not valid percent-encoding');
    }
    const thing = isBareJid(jid) ? access.thingOf(session.operator, jid) : undefined;
    if (!thing) throw new HttpError(404, 'no such thing');
    return thing;
  };

  /** A thing as the fleet list shows it (`full`: with each value's QoS, flags and type, for its own page). */
  const summary = async (session: DashboardSession, t: ThingRecord, full = false) => {
    const latest = await latestValues.latest(t.jid);
    const lastSeen = latest.reduce((m, r) => (r.timestamp > m ? r.timestamp : m), -Infinity);
    return {
      jid: t.jid,
      name: displayName(t),
      tags: visibleTags(t),
      online: session.link.resources(t.jid).length > 0,
      lastSeen: Number.isFinite(lastSeen) ? lastSeen : null,
      latest: latest.map(
        full
          ? readingJson
          : (r) => ({
              node: r.nodeId,
              field: r.name,
              value: r.value,
              ...(r.unit ? { unit: r.unit } : {}),
              timestamp: r.timestamp,
            }),
      ),
    };
  };

  /** Where a control request goes: the thing's available resource, else the address it registered from. */
  const addressOf = (session: DashboardSession, t: ThingRecord) =>
    session.link.resources(t.jid)[0] ?? t.address;

  const controlFailure = (err: unknown): HttpError => {
    if (err instanceof ControlError)
      return new HttpError(err.condition === 'bad-request' ? 400 : 502, `the thing refused: ${err.message}`, {
        condition: err.condition,
        params: err.params,
      });
    if (err instanceof XmppStanzaError)
      return new HttpError(502, `the thing refused: ${err.message}`, { condition: err.condition });
    if (err instanceof IotError && err.code === 'IOT_ERR_XMPP_TIMEOUT')
      return new HttpError(504, 'the thing did not answer in time');
    if (err instanceof IotError && err.code === 'IOT_ERR_OFFLINE')
      return new HttpError(503, 'your XMPP session is offline; try again shortly');
    return new HttpError(502, `control failed: ${errorMessage(err)}`);
  };

  async function history_(session: DashboardSession, t: ThingRecord, q: URLSearchParams) {
    const node = q.get('node');
    const field = q.get('field');
    if (!node || !field) throw new HttpError(400, 'node and field are required');
    const to = timeParam('to', q.get('to'), Date.now());
    const from = timeParam('from', q.get('from'), to - 24 * 3600_000);
    if (!(from < to)) throw new HttpError(400, 'from must be before to');
    const pointsRaw = q.get('points') ?? '1000';
    const points = Number(pointsRaw);
    if (!/^\d+$/.test(pointsRaw) || points < 1 || points > MAX_POINTS)
      throw new HttpError(400, `points: expected a whole number from 1 to ${MAX_POINTS}`);
    // Few enough stored points: send them as they are (exact timestamps); else min/max/avg buckets. Readings
    // older than the raw retention live on only as aggregates: buckets then, even for a few.
    const raw = await history.range({ thing: t.jid, nodeId: node, field, from, to, limit: points + 1 });
    const bucketsOf = () =>
      history.downsample({ thing: t.jid, nodeId: node, field, from, to, buckets: points });
    const unit = raw.find((r) => r.unit)?.unit ?? null;
    let buckets: Awaited<ReturnType<typeof bucketsOf>> | undefined;
    if (raw.length <= points) {
      const out: [number, number, number, number][] = [];
      for (const r of raw) {
        const v = plotValue(r);
        if (v !== undefined) out.push([r.timestamp, v, v, v]);
      }
      buckets = await bucketsOf();
      if (buckets.reduce((n, x) => n + x.count, 0) <= out.length)
        return { jid: t.jid, node, field, from, to, mode: 'raw', unit, points: out };
    }
    buckets ??= await bucketsOf();
    return {
      jid: t.jid,
      node,
      field,
      from,
      to,
      mode: 'buckets',
      unit: raw.find((r) => r.unit)?.unit ?? null,
      points: buckets.map((b) => [b.start, b.min, b.max, b.avg]),
    };
  }

  function events(req: IncomingMessage, res: ServerResponse, session: DashboardSession) {
    const open = streams.get(session.id) ?? new Set<ServerResponse>();
    if (open.size >= MAX_SSE_PER_SESSION) throw new HttpError(429, 'too many event streams for this session');
    open.add(res);
    streams.set(session.id, open);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no', // nginx: do not buffer the stream
    });
    res.write('retry: 3000\n\n');
    let owned = new Set(access.thingsOf(session.operator).map((t) => t.jid));
    let ownedAt = Date.now();
    const write = (event: string, data: unknown) => {
      // A reader that does not keep up is cut off rather than buffered without bound.
      if (res.writableLength > SSE_MAX_BUFFERED) return close();
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const offInsert = history.onInsert((readings) => {
      if (Date.now() - ownedAt > 5000) {
        owned = new Set(access.thingsOf(session.operator).map((t) => t.jid));
        ownedAt = Date.now();
      }
      const mine = readings.filter((r) => owned.has(r.thing));
      if (mine.length)
        write(
          'readings',
          mine.map((r) => ({ thing: r.thing, ...readingJson(r) })),
        );
    });
    const offPresence = session.link.onPresence((jid, online) => {
      if (owned.has(jid)) write('presence', { jid, online });
    });
    const heartbeat = setInterval(() => {
      if (!sessions.isLive(session.id)) return close();
      res.write(': keepalive\n\n');
    }, 20_000);
    let closed = false;
    function close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      offInsert();
      offPresence();
      open.delete(res);
      if (open.size === 0) streams.delete(session.id);
      res.end();
    }
    req.on('close', close);
    res.on('error', close);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // DNS rebinding: a page of another site whose name now points at 127.0.0.1 sends its own Host.
    if (allowedHosts && !allowedHosts.has((req.headers.host ?? '').toLowerCase()))
      throw new HttpError(421, 'unknown Host: set http.origin to the address the dashboard is reached at');
    const u = new URL(req.url ?? '/', 'http://hub.invalid');
    const path = u.pathname;
    const method = req.method ?? 'GET';
    if (method === 'GET' && path.startsWith('/static/')) {
      const name = path.slice('/static/'.length);
      if (!files.has(name) || name.endsWith('.html')) throw new HttpError(404, 'not found');
      return file(res, name);
    }
    if (path === '/metrics' && method === 'GET') {
      if (config.metricsToken) {
        const auth = req.headers.authorization ?? '';
        if (!sameToken(auth, `Bearer ${config.metricsToken}`))
          throw new HttpError(401, 'metrics need the bearer token');
      }
      return send(res, 200, await metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
    }
    if (path === '/login' && method === 'GET') return file(res, 'login.html');
    if (path === '/login' && method === 'POST') return doLogin(req, res);
    if (path === '/logout' && method === 'POST') {
      const s = requireSession(req);
      checkCsrf(req, s);
      sessions.end(s);
      for (const r of streams.get(s.id) ?? []) r.end();
      log.info({ operator: s.operator }, 'operator logged out of the dashboard');
      return json(res, 200, { ok: true }, { 'Set-Cookie': sessionCookie(undefined, cookieOpts) });
    }
    if (method === 'GET' && (path === '/' || path.startsWith('/thing/'))) {
      const s = sessionOf(req);
      if (!s) {
        res.writeHead(303, { ...SECURITY_HEADERS, Location: '/login' });
        return void res.end();
      }
      if (path.startsWith('/thing/')) thingParam(s, path.slice('/thing/'.length));
      return file(res, 'app.html');
    }
    if (!path.startsWith('/api/')) throw new HttpError(404, 'not found');

    const session = requireSession(req);
    const parts = path.slice('/api/'.length).split('/');
    if (method === 'GET' && path === '/api/me')
      return json(res, 200, { operator: session.operator, csrf: session.csrf });
    if (method === 'GET' && path === '/api/events') return events(req, res, session);
    if (parts[0] !== 'things') throw new HttpError(404, 'not found');
    if (parts.length === 1) {
      if (method !== 'GET') throw new HttpError(405, 'GET only');
      const tag = u.searchParams.get('tag');
      const [tagName, tagValue] = tag
        ? [tag.split('=')[0], tag.includes('=') ? tag.slice(tag.indexOf('=') + 1) : undefined]
        : [];
      const things = access
        .thingsOf(session.operator)
        .filter(
          (t) =>
            !tagName ||
            visibleTags(t).some(
              (x) => x.name === tagName && (tagValue === undefined || x.value === tagValue),
            ),
        );
      return json(res, 200, { things: await Promise.all(things.map((t) => summary(session, t))) });
    }
    const thing = thingParam(session, parts[1] as string);
    if (parts.length === 2 && method === 'GET')
      return json(res, 200, {
        ...(await summary(session, thing, true)),
        resources: session.link.resources(thing.jid),
      });
    if (parts.length === 3 && parts[2] === 'history' && method === 'GET')
      return json(res, 200, await history_(session, thing, u.searchParams));
    if (parts.length === 3 && parts[2] === 'control') {
      if (method === 'GET') {
        const node = u.searchParams.get('node');
        try {
          const fields = await session.link.control.getForm(addressOf(session, thing), node ? [node] : []);
          return json(res, 200, { jid: thing.jid, node, fields: fields.filter((f) => f.type !== 'hidden') });
        } catch (err) {
          throw controlFailure(err);
        }
      }
      if (method === 'POST') {
        checkCsrf(req, session);
        const body = await readJson(req);
        if (!isRecord(body) || !isRecord(body.values))
          throw new HttpError(400, 'expected {"node": "…", "values": {"param": "value"}}');
        const node = body.node;
        if (node !== undefined && (typeof node !== 'string' || node.length > 256))
          throw new HttpError(400, 'node: expected a string');
        const entries = Object.entries(body.values);
        if (entries.length === 0 || entries.length > 64)
          throw new HttpError(400, 'values: expected 1 to 64 parameters');
        const values: Record<string, string> = {};
        for (const [k, val] of entries) {
          if (
            k.length > 256 ||
            (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean')
          )
            throw new HttpError(400, 'values: each parameter needs a string, number or boolean value');
          const s = String(val);
          if (s.length > 4096) throw new HttpError(400, 'values: a value is over 4096 characters');
          values[k] = s;
        }
        try {
          await session.link.control.submitForm(addressOf(session, thing), values, node ? [node] : []);
        } catch (err) {
          throw controlFailure(err);
        }
        log.info(
          { operator: session.operator, thing: thing.jid, node, params: Object.keys(values) },
          'control set from the dashboard',
        );
        return json(res, 200, { ok: true });
      }
    }
    throw new HttpError(404, 'not found');
  }

  async function doLogin(req: IncomingMessage, res: ServerResponse) {
    checkOrigin(req);
    const body = await readJson(req);
    if (!isRecord(body) || typeof body.jid !== 'string' || typeof body.password !== 'string')
      throw new HttpError(400, 'expected {"jid": "you@example.org", "password": "…"}');
    const jid = body.jid.trim().toLowerCase();
    const address = req.socket.remoteAddress ?? '?';
    if (byJid.blocked(jid) || byAddress.blocked(address)) {
      log.warn({ operator: jid.slice(0, 128), address }, 'dashboard login attempts throttled');
      throw new HttpError(429, 'too many failed logins: wait a minute');
    }
    if (!isBareJid(jid) || body.password.length === 0 || body.password.length > 1024) {
      byJid.failed(jid);
      byAddress.failed(address);
      throw new HttpError(401, 'wrong JID or password');
    }
    if (pendingLogins >= MAX_PENDING_LOGINS)
      throw new HttpError(503, 'too many logins at once: try again shortly');
    let link: OperatorLink;
    pendingLogins++;
    try {
      link = await login(jid, body.password);
    } catch (err) {
      if (err instanceof LoginRefusedError) {
        byJid.failed(jid);
        byAddress.failed(address);
        log.info({ operator: jid, address }, 'dashboard login refused');
        throw new HttpError(401, 'wrong JID or password');
      }
      log.warn({ operator: jid, err: errorMessage(err) }, 'dashboard login failed');
      throw new HttpError(502, `cannot log in: ${errorMessage(err)}`);
    } finally {
      pendingLogins--;
    }
    const session = sessions.create(link);
    log.info({ operator: session.operator, address }, 'operator logged in to the dashboard');
    json(res, 200, { operator: session.operator }, { 'Set-Cookie': sessionCookie(session.id, cookieOpts) });
  }

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) return json(res, err.status, { error: err.message, ...err.extra });
      log.error({ err: errorMessage(err), path: (req.url ?? '').slice(0, 200) }, 'dashboard request failed');
      json(res, 500, { error: 'internal error (see the hub log)' });
    });
  };

  return {
    get url() {
      return url;
    },
    async start() {
      const s = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000 }, handle);
      server = s;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(config.port, config.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      const a = s.address() as AddressInfo;
      url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
      const wildcard = ['0.0.0.0', '::', ''].includes(config.host);
      allowedHosts =
        wildcard && !config.origin
          ? undefined
          : new Set(
              [
                new URL(url).host,
                `localhost:${a.port}`,
                `127.0.0.1:${a.port}`,
                `[::1]:${a.port}`,
                ...(config.origin ? [new URL(config.origin).host] : []),
              ].map((h) => h.toLowerCase()),
            );
      sweeper = setInterval(() => sessions.sweep(), 60_000);
      sweeper.unref();
      log.info({ url }, 'dashboard listening');
    },
    async stop() {
      clearInterval(sweeper);
      metrics.close();
      latestValues.close();
      for (const set of streams.values()) for (const r of set) r.end();
      streams.clear();
      await sessions.closeAll();
      const s = server;
      server = undefined;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
  };
}
