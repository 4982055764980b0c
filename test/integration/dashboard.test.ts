/**
 * The dashboard in real Chromium (Debian's, driven by playwright-core; never a downloaded browser) against a real
 * hub, a real agent with a memory actuator and real Prosody and ejabberd: log in with the XMPP account, see the
 * fleet, open a thing, plot a chosen range (what the page received and what uPlot drew), zoom, set a control that
 * reaches the device, see a new value arrive live, and a second operator who sees none of it. Screenshots of each
 * page go to test-artifacts/ (gitignored).
 *
 * The plot's readings are inserted into the history store directly; the control change comes back through the
 * hub's ingest (the agent trusts the hub as its provisioning server).
 */
import { mkdirSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import type { StoredReading } from '../../src/hub/history.js';
import { type HistoryDatabase, openHistoryStore } from '../../src/hub/history-store.js';
import {
  agentConfig,
  startAgent,
  startClient,
  type TestClient,
  tempDir,
  testLogger,
  waitFor,
} from '../helpers/agent.js';
import { MEMORY_HISTORY } from '../helpers/hub-modes.js';
import { memoryActuator, memoryActuatorState, memoryActuatorWrites } from '../helpers/fake-devices.js';
import { reading } from '../helpers/readings.js';
import { requireChromium } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';
import { stores, useStoreSpecs } from '../helpers/stores.js';

const REGISTRY = 'registry.localhost';
const SECRET = 'registry-secret';
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);
const XSS = '<img src=x onerror="window.__xss=1">';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The server's answer to a login can take seconds (ejabberd delays a refused one). */
const POLL = { timeout: 15_000 };

const chromiumPresent = requireChromium();

/** Both XMPP servers, each with both fleet history stores. */
const combinations = servers().flatMap((server) => stores().map((store) => [server, store] as const));

describe.skipIf(!chromiumPresent).each(combinations)(
  'the dashboard in Chromium (%s, %s history)',
  (kind, storeKind) => {
    const specs = useStoreSpecs(storeKind);
    const dir = tempDir();
    let server: XmppServer;
    let hub: Hub;
    let agent: Agent;
    let alice: TestClient;
    let browser: Browser;
    let page: Page;
    let history: HistoryDatabase;
    const hallJid = 'hall@localhost';
    /** The chosen plot range: 30 stored points one minute apart, two hours ago. */
    const t0 = Math.floor((Date.now() - 2 * 3600_000) / 60_000) * 60_000;
    const stored: StoredReading[] = Array.from({ length: 30 }, (_, i) =>
      reading(hallJid, t0 + i * 60_000, (20 + Math.sin(i / 3) * 2).toFixed(2)),
    );
    const local = (d: Date) =>
      `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}T${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    const shot = (name: string, p = page) =>
      p.screenshot({
        path: new URL(`dashboard-${kind}-${storeKind}-${name}.png`, ARTIFACTS).pathname,
        fullPage: true,
      });

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      history = await openHistoryStore(await specs.fresh());
      memoryActuatorState.clear();
      memoryActuatorWrites.length = 0;
      server = await startServer(kind, {
        components: [{ name: REGISTRY, secret: SECRET }],
        accounts: ['hall', 'alice', 'bob'].map((u) => ({ username: u, password: `${u}-pw` })),
      });
      // Alice befriends her thing (as her own client would), so her dashboard session sees its presence.
      alice = await startClient(server, 'alice', 'alice-pw', { approve: [hallJid] });
      agent = await startAgent(
        agentConfig(server, {
          username: 'hall',
          password: 'hall-pw',
          owners: ['alice@localhost'],
          store: `${dir.path}/hall.db`,
          // The hub is its provisioning server, which it trusts to read: the hub's ingest keeps its history.
          extraYaml: `provisioning: { servers: [${REGISTRY}] }`,
          extraDefinitions: [memoryActuator],
          devicesYaml: '  - id: relay\n    type: memory_actuator\n',
        }),
      );
      await alice.sensors.subscribe(hallJid);
      await waitFor('alice hears the agent', () =>
        alice.presences.some((p) => (p.attrs.from as string)?.startsWith(`${hallJid}/`) && !p.attrs.type),
      );
      hub = createHub(
        {
          xmpp: {
            component: {
              service: `xmpp://127.0.0.1:${server.componentPort}`,
              domain: REGISTRY,
              secret: SECRET,
            },
          },
          store: `${dir.path}/hub.db`,
          registry: { claimAttemptsPerMinute: 10 },
          log: { level: 'info' },
          history: MEMORY_HISTORY, // unused: the test hands the hub its history store
          http: {
            host: '127.0.0.1',
            port: 0,
            login: { service: server.service },
            secureCookies: false,
            sessionMinutes: 60,
          },
        },
        { log: testLogger(), history },
      );
      await hub.start();
      // The registry's view: hall and a thing with hostile tags are alice's; bobs-thing is bob's.
      hub.store.register(hallJid, agent.transport.jid as string, [
        { kind: 'str', name: 'NAME', value: 'Hall relay' },
        { kind: 'str', name: 'ROOM', value: 'hall' },
        { kind: 'str', name: 'KEY', value: 'claim-code' },
      ]);
      hub.store.setOwner(hallJid, 'alice@localhost', false);
      hub.store.register('hostile@localhost', 'hostile@localhost/x', [
        { kind: 'str', name: 'NAME', value: XSS },
        { kind: 'str', name: 'ROOM', value: '"><script>window.__xss=2</script>' },
      ]);
      hub.store.setOwner('hostile@localhost', 'alice@localhost', false);
      hub.store.register('bobs-thing@localhost', 'bobs-thing@localhost/x', [
        { kind: 'str', name: 'ROOM', value: 'cellar' },
      ]);
      hub.store.setOwner('bobs-thing@localhost', 'bob@localhost', false);
      hub.ingest?.refresh(); // the registry changed under it: hall is claimed now
      await history.insert([
        ...stored,
        reading(hallJid, t0 + 30 * 60_000, 'false', {
          nodeId: 'relay',
          name: 'state',
          type: 'boolean',
          unit: undefined,
          writable: true,
        }),
        reading(hallJid, t0 + 30 * 60_000, '0', {
          nodeId: 'relay',
          name: 'level',
          type: 'int',
          unit: undefined,
          writable: true,
        }),
        reading('hostile@localhost', t0, XSS, { type: 'string', unit: '<b>u</b>' }),
        reading('bobs-thing@localhost', t0, 4),
      ]);
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: CHROMIUM_ARGS,
      });
      page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await hub?.stop();
      await agent?.stop({ drainMs: 0 });
      await alice?.stop();
      await server?.stop();
      await history?.close();
      dir.remove();
    }, 60_000);

    const url = (path: string) => `${hub.web?.url}${path}`;

    const logIn = async (p: Page, jid: string, password: string) => {
      await p.goto(url('/'));
      await p.waitForURL(/\/login$/);
      await p.fill('input[name=jid]', jid);
      await p.fill('input[name=password]', password);
      await p.click('button[type=submit]');
    };

    it('refuses a wrong password on the login page', async () => {
      await logIn(page, 'alice@localhost', 'not-her-password');
      await expect.poll(() => page.textContent('#error'), POLL).toBe('wrong JID or password');
      expect(page.url()).toMatch(/\/login$/);
      await shot('login-refused');
    });

    it("logs in with the operator's XMPP account and shows her fleet, device text as text", async () => {
      await logIn(page, 'alice@localhost', 'alice-pw');
      await page.waitForURL(url('/'));
      await page.waitForSelector('table.fleet tbody tr');
      const rows = await page.$$eval('table.fleet tbody tr', (trs) =>
        trs.map((tr) => tr.getAttribute('data-jid')),
      );
      expect(rows.sort()).toEqual([hallJid, 'hostile@localhost']);
      await expect
        .poll(() => page.textContent(`tr[data-jid="${hallJid}"] .availability`), POLL)
        .toBe('online');
      expect(await page.textContent(`tr[data-jid="${hallJid}"] .tags`)).toContain('ROOM=hall');
      expect(await page.textContent(`tr[data-jid="${hallJid}"] .tags`)).not.toContain('KEY');
      expect(
        await page.textContent(`tr[data-jid="${hallJid}"] li[data-field="sensor/temperature"]`),
      ).toContain(`${stored.at(-1)?.value} °C`);
      // Hostile names, tags and values are shown as they are and never become elements.
      const hostile = page.locator('tr[data-jid="hostile@localhost"]');
      expect(await hostile.locator('a').textContent()).toBe(XSS);
      expect(await hostile.locator('img, script, b').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
      // The tag filter.
      await page.fill('#tag-filter', 'ROOM=hall');
      expect(await page.locator('table.fleet tbody tr:visible').count()).toBe(1);
      await page.fill('#tag-filter', '');
      await shot('fleet');
    });

    it('opens a thing: current values with units and QoS, and the plot of a chosen range', async () => {
      await page.click(`tr[data-jid="${hallJid}"] a`);
      await page.waitForURL(url(`/thing/${encodeURIComponent(hallJid)}`));
      const row = page.locator('table.values tr[data-field="sensor/temperature"]');
      await expect.poll(() => row.locator('.value').textContent(), POLL).toBe(stored.at(-1)?.value);
      expect(await row.locator('.unit').textContent()).toBe('°C');
      expect(await row.locator('.qos').textContent()).toBe('automaticReadout');
      // Points 5..14 of the stored 30: the page asks for that range, the plot draws exactly those.
      const from = new Date(t0 + 5 * 60_000);
      const to = new Date(t0 + 14 * 60_000 + 30_000);
      await page.selectOption('#plot-field', 'sensor/temperature');
      await page.fill('#plot-from', local(from));
      await page.fill('#plot-to', local(to));
      await page.click('#plot-show');
      const expected = stored.slice(5, 15);
      const drawn = await waitFor('the plot of the chosen range', () =>
        page
          .evaluate(() => {
            const d = (
              globalThis as unknown as {
                __dashboard: {
                  lastHistory: { from: number; mode: string; points: number[][] } | null;
                  plot: { data: number[][] } | null;
                };
              }
            ).__dashboard;
            return d.lastHistory && d.plot
              ? { received: d.lastHistory, data: d.plot.data.map((s) => Array.from(s)) }
              : undefined;
          })
          .then((r) => (r && r.received.from === t0 + 5 * 60_000 ? r : undefined)),
      );
      expect(drawn.received.mode).toBe('raw');
      expect(drawn.received.points).toEqual(
        expected.map((r) => [r.timestamp, Number(r.value), Number(r.value), Number(r.value)]),
      );
      expect(drawn.data[0]).toEqual(expected.map((r) => r.timestamp / 1000));
      expect(drawn.data[1]).toEqual(expected.map((r) => Number(r.value)));
      await shot('thing');
    });

    it('zooms: a selection on the plot asks the hub for that range', async () => {
      // Select from the 8th to the 11th point on the plot, as a drag would.
      await page.evaluate(
        ([a, b]) => {
          const u = (
            globalThis as unknown as {
              __dashboard: { plot: { valToPos(v: number, s: string): number; setSelect(o: object): void } };
            }
          ).__dashboard.plot;
          const left = u.valToPos(a as number, 'x');
          u.setSelect({ left, top: 0, width: u.valToPos(b as number, 'x') - left, height: 100 });
        },
        [(t0 + 8 * 60_000 - 20_000) / 1000, (t0 + 11 * 60_000 + 20_000) / 1000],
      );
      const zoomed = await waitFor('the zoomed range', () =>
        page
          .evaluate(
            () =>
              (
                globalThis as unknown as {
                  __dashboard: { lastHistory: { from: number; points: number[][] } };
                }
              ).__dashboard.lastHistory,
          )
          .then((h) => (h.from > t0 + 7 * 60_000 ? h : undefined)),
      );
      expect(zoomed.points.map((p) => p[0])).toEqual([8, 9, 10, 11].map((i) => t0 + i * 60_000));
    });

    it('sends a control change from the page to the device; a readout of the device shows it', async () => {
      const panel = page.locator('.control[data-node="relay"]');
      await panel.locator('[data-param="level"]').waitFor();
      await panel.locator('[data-param="level"]').fill('40');
      await panel.locator('[data-param="state"]').check();
      await panel.locator('button[type=submit]').click();
      await expect.poll(() => panel.locator('.status').textContent(), POLL).toBe('applied');
      expect(memoryActuatorWrites.at(-1)).toEqual({ deviceId: 'relay', values: { state: true, level: 40 } });
      const readout = await alice.sensors.readout(agent.transport.jid as string, { nodes: ['relay'] });
      expect(readout.fields.find((f) => f.name === 'level')?.value).toBe('40');
      expect(readout.fields.find((f) => f.name === 'state')?.value).toBe('true');
      // The agent publishes the new state; the hub's ingest stores it, and the page shows it without a reload.
      const level = page.locator('table.values tr[data-field="relay/level"] .value');
      await expect.poll(() => level.textContent(), POLL).toBe('40');
      await shot('control');
    });

    it('shows a new value live, without a reload', async () => {
      await page.evaluate(() => ((globalThis as unknown as { __marker: number }).__marker = 42));
      const now = Date.now();
      await history.insert([
        reading(hallJid, now, '23.75', { qos: ['automaticReadout', 'warning'] }),
        reading(hallJid, now, '40', {
          nodeId: 'relay',
          name: 'level',
          type: 'int',
          unit: undefined,
          writable: true,
        }),
      ]);
      const row = page.locator('table.values tr[data-field="sensor/temperature"]');
      await expect.poll(() => row.locator('.value').textContent(), POLL).toBe('23.75');
      expect(await row.locator('.qos').textContent()).toBe('automaticReadout, warning');
      expect(await page.locator('table.values tr[data-field="relay/level"] .value').textContent()).toBe('40');
      expect(await page.evaluate(() => (globalThis as unknown as { __marker?: number }).__marker)).toBe(42);
      await shot('live');
      // README "Dashboard" shows this page: `XIOT_WRITE_DOCS=1` rewrites it (Prosody's run; small on purpose).
      if (process.env.XIOT_WRITE_DOCS && kind === 'prosody' && storeKind === 'sqlite') {
        await page.setViewportSize({ width: 1000, height: 700 });
        await page.fill('#plot-from', local(new Date(t0 - 5 * 60_000)));
        await page.fill('#plot-to', local(new Date(t0 + 35 * 60_000)));
        await page.click('#plot-show');
        await waitFor('the plot of the stored half hour', () =>
          page
            .evaluate(
              () =>
                (globalThis as unknown as { __dashboard: { lastHistory: { points: unknown[] } } }).__dashboard
                  .lastHistory,
            )
            .then((h) => h.points.length === 30),
        );
        await page.screenshot({
          path: new URL('../../docs/dashboard.png', import.meta.url).pathname,
          fullPage: true,
        });
        await page.setViewportSize({ width: 1200, height: 900 });
      }
    });

    it("shows a second operator only her own things: alice's are 404 on the page and in the API", async () => {
      const context = await browser.newContext();
      const bob = await context.newPage();
      try {
        await logIn(bob, 'bob@localhost', 'bob-pw');
        await bob.waitForURL(url('/'));
        await bob.waitForSelector('table.fleet tbody tr');
        const rows = await bob.$$eval('table.fleet tbody tr', (trs) =>
          trs.map((tr) => tr.getAttribute('data-jid')),
        );
        expect(rows).toEqual(['bobs-thing@localhost']);
        await shot('fleet-second-operator', bob);
        const pageAnswer = await bob.goto(url(`/thing/${encodeURIComponent(hallJid)}`));
        expect(pageAnswer?.status()).toBe(404);
        const api = await bob.evaluate(async (jid) => {
          const paths = ['', '/history?node=sensor&field=temperature', '/control?node=relay'];
          const answers = await Promise.all(
            paths.map((p) => fetch(`/api/things/${encodeURIComponent(jid)}${p}`)),
          );
          const missing = await fetch('/api/things/nobody%40localhost');
          return {
            statuses: answers.map((a) => a.status),
            body: await answers[0]?.text(),
            missing: await missing.text(),
          };
        }, hallJid);
        expect(api.statuses).toEqual([404, 404, 404]);
        expect(api.body).toBe(api.missing);
      } finally {
        await context.close();
      }
    });
  },
);
