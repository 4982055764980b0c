/**
 * Proves the test harness itself: the throwaway Prosody launcher (src/devtools/prosody.ts) and the
 * slixmpp helper (test/helpers/slixmpp.ts), against real processes on loopback.
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { client, xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import { requireProsody, requireSlixmpp } from '../helpers/requirements.js';
import { runSlixmpp } from '../helpers/slixmpp.js';

type Xmpp = ReturnType<typeof client>;
type Element = ReturnType<typeof xml>;

const NS_PING = 'urn:xmpp:ping';
const NS_SENSORDATA = 'urn:xmpp:iot:sensordata';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

const open: Xmpp[] = [];

async function login(server: ProsodyServer, username: string, password: string, resource = 'test') {
  const xmpp = client({ service: server.service, domain: 'localhost', username, password, resource });
  xmpp.on('error', () => {}); // failures surface through start()
  xmpp.on('status', (status: string) => {
    if (status === 'connect')
      (xmpp.socket as { setNoDelay?(v: boolean): void } | undefined)?.setNoDelay?.(true);
  });
  try {
    await xmpp.start();
  } catch (err) {
    await xmpp.stop().catch(() => {});
    throw err;
  }
  open.push(xmpp);
  return xmpp;
}

async function logoutAll() {
  await Promise.all(open.splice(0).map((x) => x.stop().catch(() => {})));
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe.skipIf(!requireProsody())('throwaway Prosody launcher', () => {
  let server: ProsodyServer;

  beforeAll(async () => {
    const t0 = performance.now();
    server = await startProsody({
      accounts: [
        { username: 'alice', password: 'alice-pw' },
        { username: 'bob', password: 'bob-pw' },
      ],
    });
    console.log(`startProsody with 2 accounts: ${(performance.now() - t0).toFixed(0)} ms`);
  });

  afterAll(async () => {
    await logoutAll();
    await server?.stop();
  });

  it('listens on free loopback ports with the throwaway test config', async () => {
    expect(server.running).toBe(true);
    expect(server.domain).toBe('localhost');
    expect(server.service).toBe(`xmpp://127.0.0.1:${server.c2sPort}`);
    expect(server.c2sPort).not.toBe(5222);
    expect(server.dir.length).toBeLessThan(40);
    expect(await tcpAccepts(server.c2sPort)).toBe(true);
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/xmpp-websocket`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/WebSocket/);

    const config = readFileSync(path.join(server.dir, 'prosody.cfg.lua'), 'utf8');
    expect(config).toContain('network_settings = { nagle = false }');
    expect(config).not.toMatch(/smacks/);
    expect(server.logs()).toContain('Hello and welcome to Prosody');
  });

  it('routes an IQ ping from one account to the other full JID', async () => {
    const alice = await login(server, 'alice', 'alice-pw');
    const bob = await login(server, 'bob', 'bob-pw');
    // @xmpp/client 0.14 answers XEP-0199 pings itself (client/index.js registers an iqCallee).
    const bobJid = String(bob.jid);
    expect(bobJid).toMatch(/^bob@localhost\/test/);

    const reply: Element = await alice.iqCaller.request(
      xml('iq', { type: 'get', to: bobJid }, xml('ping', NS_PING)),
    );
    expect(reply.attrs.type).toBe('result');
    expect(reply.attrs.from).toBe(bobJid);
    expect(reply.attrs.to).toBe(String(alice.jid));
  });

  it('rejects a wrong password', async () => {
    await expect(login(server, 'alice', 'wrong')).rejects.toThrow(/not-authorized/);
  });

  it('keeps its accounts across kill() and start() on the same port', async () => {
    await logoutAll();
    const port = server.c2sPort;
    const t0 = performance.now();
    await server.kill();
    const killed = performance.now();
    expect(server.running).toBe(false);
    expect(await tcpAccepts(port)).toBe(false);
    expect(existsSync(server.dir)).toBe(true);

    await server.start();
    console.log(
      `kill(): ${(killed - t0).toFixed(0)} ms, start(): ${(performance.now() - killed).toFixed(0)} ms`,
    );
    expect(server.running).toBe(true);
    expect(server.c2sPort).toBe(port);
    const alice = await login(server, 'alice', 'alice-pw');
    expect(String(alice.jid)).toMatch(/^alice@localhost\//);

    await server.register('carol', 'carol-pw'); // while running
    const carol = await login(server, 'carol', 'carol-pw');
    expect(String(carol.jid)).toMatch(/^carol@localhost\//);
  });

  it('runs a second instance side by side; stop() removes its dir and is idempotent', async () => {
    const t0 = performance.now();
    const other = await startProsody({
      pubsubComponent: true,
      admins: ['admin@localhost'],
      accounts: [{ username: 'admin', password: 'admin-pw' }],
    });
    const started = performance.now();
    expect(other.c2sPort).not.toBe(server.c2sPort);
    expect(other.pubsubJid).toBe('pubsub.localhost');

    const admin = await login(other, 'admin', 'admin-pw');
    const info: Element = await admin.iqCaller.request(
      xml(
        'iq',
        { type: 'get', to: 'pubsub.localhost' },
        xml('query', 'http://jabber.org/protocol/disco#info'),
      ),
    );
    const identity = info.getChild('query')?.getChild('identity');
    expect(identity?.attrs).toMatchObject({ category: 'pubsub', type: 'service' });
    // Only admins may create nodes on the component: proves `admins` reached the config.
    const created: Element = await admin.iqCaller.request(
      xml(
        'iq',
        { type: 'set', to: 'pubsub.localhost' },
        xml('pubsub', 'http://jabber.org/protocol/pubsub', xml('create', { node: 'harness-test' })),
      ),
    );
    expect(created.attrs.type).toBe('result');
    await admin.stop();
    open.splice(open.indexOf(admin), 1);

    const stopStart = performance.now();
    await other.stop();
    console.log(
      `second startProsody: ${(started - t0).toFixed(0)} ms, stop(): ${(performance.now() - stopStart).toFixed(0)} ms`,
    );
    expect(other.running).toBe(false);
    expect(existsSync(other.dir)).toBe(false);
    expect(await tcpAccepts(other.c2sPort)).toBe(false);
    await other.stop();
    await expect(other.start()).rejects.toMatchObject({ code: 'IOT_ERR_STOPPED' });
    // the first server is unaffected
    expect(await tcpAccepts(server.c2sPort)).toBe(true);
  });
});

describe.skipIf(!requireProsody() || !requireSlixmpp())('slixmpp helper', () => {
  let server: ProsodyServer;
  let device: Xmpp;
  const readouts: string[] = [];

  beforeAll(async () => {
    server = await startProsody({
      accounts: [
        { username: 'sli', password: 'sli-pw' },
        { username: 'dev', password: 'dev-pw' },
      ],
    });
    // A minimal spec-style XEP-0323 responder: <accepted/>, then one <fields done='true'/> message;
    // an unknown nodeId gets an RFC 6120 item-not-found error.
    device = await login(server, 'dev', 'dev-pw', 'sensor');
    // Prosody delivers subscription requests only to available resources.
    await device.send(xml('presence'));
    device.iqCallee.get(NS_SENSORDATA, 'req', (ctx: { from: string; element: Element }) => {
      const seqnr = String(ctx.element.attrs.seqnr);
      readouts.push(`${seqnr}:${ctx.element.attrs.momentary}`);
      const node = ctx.element.getChild('node')?.attrs.nodeId;
      if (node && node !== 'sensor-1')
        return xml('error', { type: 'cancel' }, xml('item-not-found', NS_STANZAS));
      setTimeout(() => {
        void device.send(
          xml(
            'message',
            { to: ctx.from },
            xml(
              'fields',
              { xmlns: NS_SENSORDATA, seqnr, done: 'true' },
              xml(
                'node',
                { nodeId: 'sensor-1' },
                xml(
                  'timestamp',
                  { value: '2026-01-02T03:04:05Z' },
                  xml('numeric', {
                    name: 'Temperature',
                    momentary: 'true',
                    automaticReadout: 'true',
                    value: '21.5',
                    unit: '°C',
                  }),
                  xml('boolean', { name: 'Relay', momentary: 'true', value: 'true' }),
                ),
              ),
            ),
          ),
        );
      }, 20);
      return xml('accepted', { xmlns: NS_SENSORDATA, seqnr });
    });
    device.on('stanza', (stanza: Element) => {
      if (stanza.is('presence') && stanza.attrs.type === 'subscribe') {
        void device.send(
          xml('presence', { to: String(stanza.attrs.from).split('/')[0], type: 'subscribed' }),
        );
      }
    });
  });

  afterAll(async () => {
    await logoutAll();
    await server?.stop();
  });

  const base = () => ({ jid: 'sli@localhost', password: 'sli-pw', port: server.c2sPort });

  it('logs in and pings the server', async () => {
    const res = await runSlixmpp({ ...base(), action: 'ping', target: 'localhost' });
    expect(res.ok).toBe(true);
    expect(res.jid).toMatch(/^sli@localhost\/.+/);
    expect(res.rttMs).toBeGreaterThan(0);
  });

  it('rejects with the reason when the login fails', async () => {
    await expect(runSlixmpp({ ...base(), password: 'wrong', action: 'ping' })).rejects.toThrow(
      /authentication failed/,
    );
  });

  it('reads a momentary readout and reports the callback states and fields', async () => {
    const res = await runSlixmpp({ ...base(), action: 'read-momentary', target: String(device.jid) });
    expect(res.results).toEqual(['accepted', 'fields', 'done']);
    expect(readouts.at(-1)).toBe(`${res.seqnr}:true`);
    expect(res.fields).toEqual([
      {
        nodeId: 'sensor-1',
        timestamp: '2026-01-02T03:04:05Z',
        name: 'Temperature',
        typename: 'numeric',
        value: '21.5',
        unit: '°C',
        flags: { momentary: 'true', automaticReadout: 'true' },
      },
      {
        nodeId: 'sensor-1',
        timestamp: '2026-01-02T03:04:05Z',
        name: 'Relay',
        typename: 'boolean',
        value: 'true',
        flags: { momentary: 'true' },
      },
    ]);
  });

  it('reports an RFC 6120 readout error that slixmpp itself ignores', async () => {
    const res = await runSlixmpp({
      ...base(),
      action: 'read-momentary',
      target: String(device.jid),
      nodeIds: ['nope'],
    });
    expect(res.results).toEqual(['error']);
    expect(res.iqErrors).toEqual([
      expect.objectContaining({ type: 'cancel', condition: 'item-not-found', from: String(device.jid) }),
    ]);
  });

  it('subscribes to a contact that approves', async () => {
    const res = await runSlixmpp({ ...base(), action: 'subscribe', target: 'dev@localhost' });
    expect(res.presences).toContain('subscribed');
    expect(['to', 'both']).toContain(res.subscription);
  });
});
