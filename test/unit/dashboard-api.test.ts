/**
 * The dashboard's HTTP layer through node's fetch: sessions, cookies, CSRF, login throttling, who sees what,
 * the API's answers and bad input, over the SQLite history store. The operator's XMPP session is a double here (a
 * recorded control client); test/integration/dashboard.test.ts drives the real one in Chromium against Prosody and
 * ejabberd.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HubHttpConfig } from '../../src/config/hub-config.js';
import { parseHubConfig } from '../../src/config/hub-config.js';
import { silentLogger } from '../../src/core/logger.js';
import { createThingAccess } from '../../src/hub/access.js';
import { createHub } from '../../src/hub/hub.js';
import type { Transport } from '../../src/xmpp/transport.js';
import { type HubStore, openSqliteHubStore } from '../../src/hub/store.js';
import { ControlError, type FormField } from '../../src/iot/control-client.js';
import { LoginRefusedError, type OperatorLink } from '../../src/hub/web/operator-link.js';
import { createWebServer, type WebServer } from '../../src/hub/web/server.js';
import { createSessions } from '../../src/hub/web/sessions.js';
import { reading } from '../helpers/readings.js';
import { type HistoryDatabase, openHistoryStore } from '../../src/hub/history-store.js';

const PASSWORDS: Record<string, string> = { 'alice@localhost': 'alice-pw', 'bob@localhost': 'bob-pw' };
const FORM: FormField[] = [
  { var: 'state', type: 'boolean', datatype: 'xs:boolean', value: 'false', options: [], notSame: true },
  {
    var: 'level',
    type: 'text-single',
    datatype: 'xs:int',
    min: '0',
    max: '100',
    value: '0',
    options: [],
    notSame: true,
  },
];

interface FakeLink extends OperatorLink {
  presence(jid: string, available: boolean): void;
  submitted: { to: string; values: Record<string, string>; nodes: readonly string[] }[];
  closed: boolean;
  online: Set<string>;
  refuse?: ControlError;
}

function fakeLink(operator: string): FakeLink {
  const listeners = new Set<(jid: string, available: boolean) => void>();
  const link = {
    operator,
    transport: undefined as never,
    submitted: [] as FakeLink['submitted'],
    closed: false,
    online: new Set<string>(),
    refuse: undefined as ControlError | undefined,
    control: {
      getForm: async () => FORM,
      submitForm: async (to: string, values: Record<string, string>, nodes: readonly string[] = []) => {
        if (link.refuse) throw link.refuse;
        link.submitted.push({ to, values, nodes });
      },
    } as unknown as OperatorLink['control'],
    resources: (jid: string) => (link.online.has(jid) ? [`${jid}/agent`] : []),
    presence(jid: string, available: boolean) {
      if (available) link.online.add(jid);
      else link.online.delete(jid);
      for (const l of listeners) l(jid, available);
    },
    onPresence(l: (jid: string, available: boolean) => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async close() {
      link.closed = true;
    },
  };
  return link;
}

describe('the dashboard HTTP API', () => {
  let store: HubStore;
  let history: HistoryDatabase;
  let web: WebServer;
  let links: FakeLink[];
  const now = Date.now();

  const start = async (extra: Partial<HubHttpConfig> = {}) => {
    web = createWebServer({
      config: {
        host: '127.0.0.1',
        port: 0,
        login: { service: 'xmpp://127.0.0.1:1' },
        secureCookies: false,
        sessionMinutes: 60,
        ...extra,
      },
      access: createThingAccess(store),
      history,
      log: silentLogger(),
      login: async (jid, password) => {
        if (PASSWORDS[jid] !== password) throw new LoginRefusedError();
        const link = fakeLink(jid);
        links.push(link);
        return link;
      },
    });
    await web.start();
  };

  beforeEach(async () => {
    store = openSqliteHubStore(':memory:');
    history = await openHistoryStore(':memory:');
    links = [];
    store.register('hall@localhost', 'hall@localhost/agent', [
      { kind: 'str', name: 'ROOM', value: 'hall' },
      { kind: 'str', name: 'KEY', value: 'secret-claim-code' },
    ]);
    store.setOwner('hall@localhost', 'alice@localhost', false);
    store.register('attic@localhost', 'attic@localhost/agent', [
      { kind: 'str', name: 'ROOM', value: 'attic' },
    ]);
    store.setOwner('attic@localhost', 'alice@localhost', true);
    store.register('bobs@localhost', 'bobs@localhost/agent', [{ kind: 'str', name: 'ROOM', value: 'hall' }]);
    store.setOwner('bobs@localhost', 'bob@localhost', true);
    await history.insert([
      reading('hall@localhost', now - 60_000, 20.5),
      reading('hall@localhost', now - 30_000, 21.25, { qos: ['automaticReadout', 'warning'] }),
      reading('bobs@localhost', now - 30_000, 5),
    ]);
    await start();
  });

  afterEach(async () => {
    await web.stop();
    store.close();
    await history.close();
  });

  const origin = () => web.url;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${web.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: origin(), ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  /** Logs in; returns the cookie header and the CSRF token. */
  const loginAs = async (jid: string) => {
    const res = await post('/login', { jid, password: PASSWORDS[jid] });
    expect(res.status).toBe(200);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const me = (await (await fetch(`${web.url}/api/me`, { headers: { cookie } })).json()) as { csrf: string };
    return { cookie, csrf: me.csrf };
  };
  const get = (path: string, cookie?: string) =>
    fetch(`${web.url}${path}`, { headers: cookie ? { cookie } : {} });

  it('logs in with the XMPP account and sets an HttpOnly, SameSite=Strict session cookie', async () => {
    const res = await post('/login', { jid: 'Alice@localhost', password: 'alice-pw' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ operator: 'alice@localhost' });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(
      /^xiot_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=3600$/,
    );
    expect(cookie).not.toContain('Secure');
  });

  it('marks the cookie Secure behind a TLS proxy', async () => {
    await web.stop();
    await start({ secureCookies: true, origin: 'https://hub.example.org' });
    const res = await post(
      '/login',
      { jid: 'alice@localhost', password: 'alice-pw' },
      { Origin: 'https://hub.example.org' },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/; Secure$/);
  });

  it('refuses a wrong password with 401 and no cookie', async () => {
    const res = await post('/login', { jid: 'alice@localhost', password: 'wrong' });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'wrong JID or password' });
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('throttles failed logins per JID (then even the right password waits)', async () => {
    for (let i = 0; i < 5; i++)
      expect((await post('/login', { jid: 'alice@localhost', password: `x${i}` })).status).toBe(401);
    const res = await post('/login', { jid: 'alice@localhost', password: 'alice-pw' });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: string }).error).toMatch(/wait a minute/);
    expect((await post('/login', { jid: 'bob@localhost', password: 'bob-pw' })).status).toBe(200);
  });

  it.each([
    ['no Origin', { Origin: '' }, 403],
    ['another Origin', { Origin: 'http://evil.example' }, 403],
    ['a form body', { 'Content-Type': 'application/x-www-form-urlencoded' }, 415],
  ])('refuses a login with %s', async (_what, headers, status) => {
    const res = await post('/login', { jid: 'alice@localhost', password: 'alice-pw' }, headers);
    expect(res.status).toBe(status);
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('refuses bad login bodies without echoing them', async () => {
    expect((await post('/login', '{"jid":')).status).toBe(400);
    expect((await post('/login', { jid: 7 })).status).toBe(400);
    const big = await post('/login', { jid: 'alice@localhost', password: 'p'.repeat(20_000) });
    expect(big.status).toBe(413);
    expect((await big.text()).length).toBeLessThan(200);
    expect((await post('/login', { jid: 'not a jid', password: 'x' })).status).toBe(401);
  });

  it('sends the login page to visitors without a session; the API answers 401', async () => {
    const page = await fetch(`${web.url}/`, { redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login');
    expect((await get('/api/things')).status).toBe(401);
    expect((await get('/api/things', 'xiot_session=forged')).status).toBe(401);
    const login = await get('/login');
    expect(login.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await login.text()).toContain('<form id="login">');
  });

  it("lists only the operator's things, without the KEY tag, with latest values and QoS", async () => {
    const { cookie } = await loginAs('alice@localhost');
    links[0]?.online.add('hall@localhost');
    const body = (await (await get('/api/things', cookie)).json()) as { things: Record<string, unknown>[] };
    expect(body.things.map((t) => t.jid)).toEqual(['attic@localhost', 'hall@localhost']);
    const hall = body.things[1] as {
      tags: unknown;
      online: boolean;
      lastSeen: number;
      latest: Record<string, unknown>[];
    };
    expect(hall.tags).toEqual([{ name: 'ROOM', value: 'hall' }]);
    expect(hall.online).toBe(true);
    expect(hall.lastSeen).toBe(now - 30_000);
    expect(hall.latest).toEqual([
      { node: 'sensor', field: 'temperature', value: '21.25', unit: '°C', timestamp: now - 30_000 },
    ]);
    const one = (await (await get('/api/things/hall%40localhost', cookie)).json()) as {
      latest: Record<string, unknown>[];
      resources: string[];
    };
    expect(one.resources).toEqual(['hall@localhost/agent']);
    expect(one.latest).toEqual([
      expect.objectContaining({ field: 'temperature', value: '21.25', qos: ['automaticReadout', 'warning'] }),
    ]);
    expect(body.things[0]).toMatchObject({ online: false, lastSeen: null, latest: [] });
    const filtered = (await (await get('/api/things?tag=ROOM%3Dattic', cookie)).json()) as {
      things: { jid: string }[];
    };
    expect(filtered.things.map((t) => t.jid)).toEqual(['attic@localhost']);
  });

  it("answers 404 for another operator's thing exactly as for one that does not exist", async () => {
    const { cookie, csrf } = await loginAs('alice@localhost');
    const theirs = await get('/api/things/bobs%40localhost', cookie);
    const none = await get('/api/things/nobody%40localhost', cookie);
    expect(theirs.status).toBe(404);
    expect(none.status).toBe(404);
    expect(await theirs.text()).toBe(await none.text());
    expect(
      (await get('/api/things/bobs%40localhost/history?node=sensor&field=temperature', cookie)).status,
    ).toBe(404);
    expect((await get('/api/things/bobs%40localhost/control?node=relay', cookie)).status).toBe(404);
    const set = await post(
      '/api/things/bobs%40localhost/control',
      { values: { state: 'true' } },
      { cookie, 'X-CSRF-Token': csrf },
    );
    expect(set.status).toBe(404);
    const page = await fetch(`${web.url}/thing/bobs%40localhost`, { headers: { cookie } });
    expect(page.status).toBe(404);
    expect((await get('/thing/hall%40localhost', cookie)).status).toBe(200);
  });

  it('refuses malformed paths and history parameters with 400', async () => {
    const { cookie } = await loginAs('alice@localhost');
    expect((await get('/api/things/%E0%A4%A', cookie)).status).toBe(400);
    const h = '/api/things/hall%40localhost/history';
    for (const q of [
      '',
      '?node=sensor',
      '?node=sensor&field=temperature&points=0',
      '?node=sensor&field=temperature&points=abc',
      '?node=sensor&field=temperature&points=100000',
      '?node=sensor&field=temperature&from=10&to=5',
      '?node=sensor&field=temperature&from=yesterday',
    ]) {
      const res = await get(`${h}${q}`, cookie);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: string }).error, q).toMatch(/node|points|from|to/);
    }
  });

  it('keeps the fleet list current from new readings (the latest values are cached)', async () => {
    const { cookie } = await loginAs('alice@localhost');
    const latestOf = async () =>
      (
        (await (await get('/api/things', cookie)).json()) as {
          things: { jid: string; latest: { value: string }[] }[];
        }
      ).things
        .find((t) => t.jid === 'hall@localhost')
        ?.latest.map((r) => r.value);
    expect(await latestOf()).toEqual(['21.25']);
    await history.insert([reading('hall@localhost', now - 40_000, 1), reading('hall@localhost', now, 23)]);
    expect(await latestOf()).toEqual(['23']);
  });

  it('returns the stored points of a range as they are, and min/max buckets when there are more than asked for', async () => {
    const { cookie } = await loginAs('alice@localhost');
    const base = now - 10 * 3600_000;
    await history.insert(
      Array.from({ length: 100 }, (_, i) => reading('attic@localhost', base + i * 60_000, i % 10)),
    );
    const url = `/api/things/attic%40localhost/history?node=sensor&field=temperature&from=${base}&to=${base + 99 * 60_000}`;
    const raw = (await (await get(`${url}&points=100`, cookie)).json()) as {
      mode: string;
      points: number[][];
      unit: string;
    };
    expect(raw.mode).toBe('raw');
    expect(raw.unit).toBe('°C');
    expect(raw.points).toHaveLength(100);
    expect(raw.points[3]).toEqual([base + 3 * 60_000, 3, 3, 3]);
    const down = (await (await get(`${url}&points=10`, cookie)).json()) as {
      mode: string;
      points: number[][];
    };
    expect(down.mode).toBe('buckets');
    expect(down.points.length).toBeLessThanOrEqual(10);
    expect(
      down.points.every((p) => (p[1] as number) <= (p[3] as number) && (p[3] as number) <= (p[2] as number)),
    ).toBe(true);
    expect(Math.min(...down.points.map((p) => p[1] as number))).toBe(0);
    expect(Math.max(...down.points.map((p) => p[2] as number))).toBe(9);
  });

  it('plots readings older than the raw retention from their aggregates', async () => {
    const { cookie } = await loginAs('alice@localhost');
    const old = now - 40 * 86400_000;
    await history.insert(Array.from({ length: 10 }, (_, i) => reading('attic@localhost', old + i * 1000, i)));
    await history.applyRetention(now);
    expect(await history.range({ thing: 'attic@localhost', from: old - 1, to: old + 60_000 })).toEqual([]);
    const h = (await (
      await get(
        `/api/things/attic%40localhost/history?node=sensor&field=temperature&from=${old - 60_000}&to=${old + 120_000}&points=100`,
        cookie,
      )
    ).json()) as { mode: string; points: number[][] };
    expect(h.mode).toBe('buckets');
    expect(Math.min(...h.points.map((p) => p[1] as number))).toBe(0);
    expect(Math.max(...h.points.map((p) => p[2] as number))).toBe(9);
  });

  it('needs the CSRF token and the page origin for a control set, then sends it as the operator', async () => {
    const { cookie, csrf } = await loginAs('alice@localhost');
    const path = '/api/things/hall%40localhost/control';
    const body = { node: 'relay', values: { state: 'true', level: 40 } };
    expect((await post(path, body, { cookie })).status).toBe(403);
    expect((await post(path, body, { cookie, 'X-CSRF-Token': 'x'.repeat(43) })).status).toBe(403);
    expect(
      (await post(path, body, { cookie, 'X-CSRF-Token': csrf, Origin: 'http://evil.example' })).status,
    ).toBe(403);
    expect(links[0]?.submitted).toEqual([]);
    const ok = await post(path, body, { cookie, 'X-CSRF-Token': csrf });
    expect(ok.status).toBe(200);
    expect(links[0]?.submitted).toEqual([
      { to: 'hall@localhost/agent', values: { state: 'true', level: '40' }, nodes: ['relay'] },
    ]);
    const form = (await (await get(`${path}?node=relay`, cookie)).json()) as { fields: FormField[] };
    expect(form.fields.map((f) => f.var)).toEqual(['state', 'level']);
  });

  it("refuses bad control bodies with 400 and passes the device's parameter errors on", async () => {
    const { cookie, csrf } = await loginAs('alice@localhost');
    const path = '/api/things/hall%40localhost/control';
    const h = { cookie, 'X-CSRF-Token': csrf };
    for (const body of [
      {},
      { values: {} },
      { values: { a: { nested: 1 } } },
      { node: 5, values: { a: '1' } },
      '[1,2]',
    ])
      expect((await post(path, body, h)).status, JSON.stringify(body)).toBe(400);
    (links[0] as FakeLink).refuse = new ControlError(
      'bad-request',
      { level: 'at most 100' },
      'bad-request: out of range',
    );
    const res = await post(path, { node: 'relay', values: { level: '400' } }, h);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ condition: 'bad-request', params: { level: 'at most 100' } });
  });

  it("streams new readings and presence of the operator's things only (SSE)", async () => {
    const { cookie } = await loginAs('alice@localhost');
    const controller = new AbortController();
    const res = await fetch(`${web.url}/api/events`, { headers: { cookie }, signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    await history.insert([reading('bobs@localhost', now, 99), reading('hall@localhost', now, 22.5)]);
    while (!text.includes('event: readings')) text += new TextDecoder().decode((await reader.read()).value);
    links[0]?.presence('bobs@localhost', true);
    links[0]?.presence('hall@localhost', true);
    while (!text.includes('event: presence')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).toContain('event: presence\ndata: {"jid":"hall@localhost","online":true}\n\n');
    const data = JSON.parse(/event: readings\ndata: (.*)\n/.exec(text)?.[1] as string) as {
      thing: string;
      value: string;
    }[];
    expect(data).toEqual([expect.objectContaining({ thing: 'hall@localhost', value: '22.5' })]);
    expect(text).not.toContain('bobs');
  });

  it('logs out: the session and its XMPP session end, the cookie is cleared', async () => {
    const { cookie, csrf } = await loginAs('alice@localhost');
    expect((await post('/logout', {}, { cookie })).status).toBe(403);
    const res = await post('/logout', {}, { cookie, 'X-CSRF-Token': csrf });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/^xiot_session=; .*Max-Age=0/);
    expect(links[0]?.closed).toBe(true);
    expect((await get('/api/me', cookie)).status).toBe(401);
  });

  it('serves Prometheus metrics with escaped labels, behind a token when one is set', async () => {
    await history.insert([reading('we"ird\\thing@localhost', now, 1)]);
    const text = await (await get('/metrics')).text();
    expect(text).toContain('# TYPE xiot_hub_readings_ingested_total counter');
    expect(text).toMatch(/^xiot_hub_readings_ingested_total 1$/m);
    expect(text).toContain('xiot_hub_thing_last_seen_seconds{thing="we\\"ird\\\\thing@localhost"}');
    expect(text).toMatch(/^xiot_hub_ingest_lag_seconds \d+\.\d{3}$/m);
    await web.stop();
    await start({ metricsToken: 't0ken' });
    expect((await get('/metrics')).status).toBe(401);
    expect((await fetch(`${web.url}/metrics`, { headers: { authorization: 'Bearer t0ken' } })).status).toBe(
      200,
    );
  });

  it('refuses requests naming another Host (DNS rebinding)', async () => {
    const port = new URL(web.url).port;
    const { request } = await import('node:http');
    const status = (host: string) =>
      new Promise<number | undefined>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/metrics', headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
          .on('error', reject)
          .end();
      });
    expect(await status(`evil.example:${port}`)).toBe(421);
    expect(await status(`localhost:${port}`)).toBe(200);
  });

  it('serves uPlot and the page scripts, and nothing outside its list', async () => {
    const u = await get('/static/uPlot.iife.min.js');
    expect(u.status).toBe(200);
    expect(u.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await get('/static/../../package.json')).status).toBe(404);
    expect((await get('/static/app.html')).status).toBe(404);
  });

  it('never turns device text into HTML in the page scripts', () => {
    for (const name of ['app.js', 'login.js']) {
      const src = readFileSync(new URL(`../../src/hub/web/public/${name}`, import.meta.url), 'utf8');
      expect(src, name).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    }
  });
});

describe('dashboard sessions', () => {
  it('expire after the idle time and close the XMPP session', () => {
    let t = 0;
    const sessions = createSessions({ idleMs: 1000, now: () => t });
    const link = fakeLink('alice@localhost');
    const s = sessions.create(link);
    t = 900;
    expect(sessions.lookup(s.id)).toBe(s);
    t = 1800;
    expect(sessions.lookup(s.id)).toBe(s); // used at 900: still within the idle time
    t = 2900;
    expect(sessions.lookup(s.id)).toBeUndefined();
    expect(link.closed).toBe(true);
  });

  it('keep at most maxPerOperator sessions per operator, closing the oldest', () => {
    const sessions = createSessions({ idleMs: 60_000, maxPerOperator: 2 });
    const links = [1, 2, 3].map(() => fakeLink('alice@localhost'));
    const made = links.map((l) => sessions.create(l));
    expect(sessions.size).toBe(2);
    expect(links[0]?.closed).toBe(true);
    expect(sessions.lookup(made[0]?.id)).toBeUndefined();
    expect(sessions.lookup(made[2]?.id)).toBeDefined();
  });
});

describe('the hub config http section', () => {
  const base =
    'xmpp:\n  component: { service: "xmpp://10.0.0.5:5347", domain: registry.localhost, secret: s }\n';
  it('has no dashboard unless asked; with `http: {}` it listens on 127.0.0.1:8080', () => {
    expect(parseHubConfig(base).http).toBeUndefined();
    expect(parseHubConfig(`${base}http: {}\n`).http).toEqual({
      host: '127.0.0.1',
      port: 8080,
      login: { service: 'xmpp://10.0.0.5:5222' },
      secureCookies: false,
      sessionMinutes: 60,
    });
  });

  it('names bad http settings by their key path', () => {
    expect(() =>
      parseHubConfig(
        `${base}http: { port: 70000, login: { service: "http://x" }, origin: "hub.example.org" }\n`,
      ),
    ).toThrow(
      /http\.port: a port 0-65535[\s\S]*http\.login\.service: expected "xmpp:\/\/host:5222"[\s\S]*http\.origin/,
    );
  });
});

describe('createHub with http', () => {
  it('opens the fleet history from the config and serves the dashboard until stopped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xiot-hub-web-'));
    try {
      const config = parseHubConfig(
        `xmpp:\n  component: { service: "xmpp://127.0.0.1:5347", domain: registry.localhost, secret: s }\nstore: ${dir}/hub.db\nhttp: { port: 0 }\n`,
      );
      const noop = () => undefined;
      // The component link is not what this test is about: a transport that is always "online".
      const transport = {
        jid: 'registry.localhost',
        bareJid: 'registry.localhost',
        online: true,
        start: async () => undefined,
        stop: async () => undefined,
        send: async () => undefined,
        request: async () => {
          throw new Error('offline');
        },
        handleIq: noop,
        on: noop,
        off: noop,
      } as unknown as Transport;
      const hub = createHub(config, { log: silentLogger(), transport });
      await hub.start();
      const url = hub.web?.url as string;
      expect((await fetch(`${url}/login`)).status).toBe(200);
      expect(existsSync(join(dir, 'history.db'))).toBe(true);
      await hub.stop();
      await expect(fetch(`${url}/login`)).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
