/**
 * Dashboard (issue 16): the fleet page with 1,000 things, as the hub's server produces it (GET /api/things, the
 * JSON the page is built from) and as Chromium renders it (navigation to the last table row in the DOM); each
 * against a baseline in the same run: the same bytes served as a static file, and the same page, rendered once,
 * saved and served as static HTML (so the ratio is what building the page costs over merely showing it).
 * The operator logs in through the real XMPP server; the history is the SQLite store.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { MissingDependencyError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { XmppServer } from '../../src/devtools/xmpp-server.js';
import { createThingAccess } from '../../src/hub/access.js';
import type { StoredReading } from '../../src/hub/history.js';
import { openHistoryStore } from '../../src/hub/history-store.js';
import { openSqliteHubStore } from '../../src/hub/store.js';
import { createWebServer } from '../../src/hub/web/server.js';
import { type BenchOptions, median, type Row } from '../lib.js';

const THINGS = 1000;
const CHROMIUM = '/usr/bin/chromium';

export async function dashboardScenario(server: XmppServer, dir: string, opts: BenchOptions): Promise<Row[]> {
  if (!existsSync(CHROMIUM)) throw new MissingDependencyError('Chromium', 'apt-get install -y chromium');
  await server.register('op', 'op-pw');
  const store = openSqliteHubStore(join(dir, 'hub.db'));
  const history = await openHistoryStore(join(dir, 'history.db'));
  const now = Date.now();
  const readings: StoredReading[] = [];
  for (let i = 0; i < THINGS; i++) {
    const jid = `thing${String(i).padStart(4, '0')}@localhost`;
    store.register(jid, `${jid}/agent`, [
      { kind: 'str', name: 'NAME', value: `Sensor ${i}` },
      { kind: 'str', name: 'ROOM', value: `room-${i % 40}` },
      { kind: 'str', name: 'KEY', value: `k${i}` },
    ]);
    store.setOwner(jid, 'op@localhost', false);
    for (const [name, value, unit] of [
      ['temperature', (20 + (i % 7) / 3).toFixed(2), '°C'],
      ['humidity', String(40 + (i % 20)), '%'],
      ['battery', (3 + (i % 10) / 10).toFixed(2), 'V'],
    ] as const)
      readings.push({
        thing: jid,
        nodeId: 'sensor',
        name,
        timestamp: now - (i % 60) * 1000,
        type: 'numeric',
        value,
        unit,
        flags: ['momentary'],
        qos: ['automaticReadout'],
      });
  }
  await history.insert(readings);
  const web = createWebServer({
    config: {
      host: '127.0.0.1',
      port: 0,
      login: { service: server.service },
      secureCookies: false,
      sessionMinutes: 60,
    },
    access: createThingAccess(store),
    history,
    log: silentLogger(),
  });
  await web.start();
  const statics = new Map<string, Buffer>();
  const staticServer = createServer((req, res) => {
    const body = statics.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const type = req.url?.endsWith('.html')
      ? 'text/html'
      : req.url?.endsWith('.css')
        ? 'text/css'
        : 'application/json';
    res.writeHead(200, { 'Content-Type': type });
    res.end(body);
  });
  await new Promise<void>((r) => staticServer.listen(0, '127.0.0.1', r));
  const staticUrl = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const login = await fetch(`${web.url}/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: web.url },
      body: JSON.stringify({ jid: 'op@localhost', password: 'op-pw' }),
    });
    if (!login.ok) throw new Error(`login failed: HTTP ${login.status}`);
    const session = /xiot_session=([^;]+)/.exec(login.headers.get('set-cookie') ?? '')?.[1] as string;
    const cookie = `xiot_session=${session}`;

    for (const css of ['style.css', 'uPlot.min.css'])
      statics.set(
        `/static/${css}`,
        Buffer.from(await (await fetch(`${web.url}/static/${css}`)).arrayBuffer()),
      );
    const timeGet = async (url: string, headers: Record<string, string> = {}) => {
      const t0 = performance.now();
      const res = await fetch(url, { headers });
      const body = Buffer.from(await res.arrayBuffer());
      if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
      return { ms: performance.now() - t0, body };
    };
    const api = await timeGet(`${web.url}/api/things`, { cookie }); // warm-up; its bytes are the baseline's
    const parsed = JSON.parse(api.body.toString()) as { things: unknown[] };
    if (parsed.things.length !== THINGS) throw new Error(`the API listed ${parsed.things.length} things`);
    statics.set('/things.json', api.body);
    await timeGet(`${staticUrl}/things.json`);
    const runs = Math.max(3, opts.repeats * 5);
    const serverMs: number[] = [];
    const staticMs: number[] = [];
    for (let r = 0; r < runs; r++) {
      serverMs.push((await timeGet(`${web.url}/api/things`, { cookie })).ms);
      staticMs.push((await timeGet(`${staticUrl}/things.json`)).ms);
    }

    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    await context.addCookies([{ name: 'xiot_session', value: session, url: web.url }]);
    type Dom = { document: { querySelectorAll(s: string): { length: number } } };
    const rowsShown = (n: number) =>
      (globalThis as unknown as Dom).document.querySelectorAll('table.fleet tbody tr').length === n;
    const render = async (url: string) => {
      const page = await context.newPage();
      try {
        const t0 = performance.now();
        await page.goto(url, { waitUntil: 'commit' });
        await page.waitForFunction(rowsShown, THINGS, { polling: 'raf', timeout: 30_000 });
        const ms = performance.now() - t0;
        return { ms, html: await page.content() };
      } finally {
        await page.close();
      }
    };
    const first = await render(`${web.url}/`); // warm-up (the browser's caches); its DOM is the baseline page
    statics.set('/fleet.html', Buffer.from(first.html.replace(/<script\b[^>]*>[\s\S]*?<\/script>/g, '')));
    const pageMs: number[] = [];
    const staticPageMs: number[] = [];
    for (let r = 0; r < Math.max(3, opts.repeats * 3); r++) {
      pageMs.push((await render(`${web.url}/`)).ms);
      staticPageMs.push((await render(`${staticUrl}/fleet.html`)).ms);
    }
    await context.close();
    const kib = Math.round(api.body.length / 1024);
    return [
      {
        scenario: 'dashboard',
        metric: `fleet API, ${THINGS.toLocaleString('en')} things (server time, ${kib} KiB)`,
        ours: median(serverMs),
        baseline: 'the same bytes as a static file',
        baselineValue: median(staticMs),
        unit: 'ms',
        better: 'lower',
        target: '≤ 1 s',
      },
      {
        scenario: 'dashboard',
        metric: `fleet page in Chromium, ${THINGS.toLocaleString('en')} things (navigation to last row)`,
        ours: median(pageMs),
        baseline: 'the rendered page saved as static HTML',
        baselineValue: median(staticPageMs),
        unit: 'ms',
        better: 'lower',
        target: '≤ 1 s',
      },
    ];
  } finally {
    await browser.close();
    await web.stop();
    await new Promise<void>((r) => staticServer.close(() => r()));
    await history.close();
    store.close();
  }
}
