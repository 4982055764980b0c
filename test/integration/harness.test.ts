/**
 * Proves the test harness itself: the throwaway server launchers (src/devtools/prosody.ts, ejabberd.ts) and the
 * slixmpp helper (test/helpers/slixmpp.ts), against real processes on loopback.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { client, xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerKind, startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { requireSlixmpp } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';
import { runSlixmpp } from '../helpers/slixmpp.js';

type Xmpp = ReturnType<typeof client>;
type Element = ReturnType<typeof xml>;

const NS_PING = 'urn:xmpp:ping';
const NS_SENSORDATA = 'urn:xmpp:iot:sensordata';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

const open: Xmpp[] = [];

async function login(server: XmppServer, username: string, password: string, resource = 'test') {
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

/** Processes whose command line names the server's dir (ejabberd: runuser, the VM, erl_child_setup). */
function processesOf(server: XmppServer): string[] {
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps
    .split('\n')
    .filter((line) => line.includes(server.dir) || line.includes(path.basename(server.dir)));
}

/** What each server's generated config and log must show. */
const expectedSetup: Record<
  ServerKind,
  { config: string; settings: RegExp[]; absent: RegExp; started: string }
> = {
  prosody: {
    config: 'prosody.cfg.lua',
    settings: [/network_settings = \{ nagle = false \}/],
    absent: /smacks/,
    started: 'Hello and welcome to Prosody',
  },
  ejabberd: {
    config: 'ejabberd.yml',
    // Debian's c2s shaper, kept on: the agent must live with 3000 B/s.
    settings: [/normal:\n\s+rate: 3000\n\s+burst_size: 20000/, /c2s_shaper:\n\s+none: admin\n\s+normal: all/],
    absent: /mod_stream_mgmt/,
    started: ' is started in the node ',
  },
};

describe.each(servers())('throwaway server launcher (%s)', (kind) => {
  let server: XmppServer;

  beforeAll(async () => {
    const t0 = performance.now();
    server = await startServer(kind, {
      accounts: [
        { username: 'alice', password: 'alice-pw' },
        { username: 'bob', password: 'bob-pw' },
      ],
    });
    console.log(`startServer(${kind}) with 2 accounts: ${(performance.now() - t0).toFixed(0)} ms`);
  });

  afterAll(async () => {
    await logoutAll();
    await server?.stop();
  });

  it('listens on free loopback ports with the throwaway test config', async () => {
    expect(server.running).toBe(true);
    expect(server.kind).toBe(kind);
    expect(server.domain).toBe('localhost');
    expect(server.service).toBe(`xmpp://127.0.0.1:${server.c2sPort}`);
    expect(server.c2sPort).not.toBe(5222);
    expect(server.dir.length).toBeLessThan(40);
    expect(await tcpAccepts(server.c2sPort)).toBe(true);
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/xmpp-websocket`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/WebSocket/);

    const expected = expectedSetup[kind];
    const config = readFileSync(path.join(server.dir, expected.config), 'utf8');
    for (const setting of expected.settings) expect(config).toMatch(setting);
    expect(config).not.toMatch(expected.absent);
    expect(server.logs()).toContain(expected.started);
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
    // What survives is the data dir. A SIGKILLed ejabberd also loses Mnesia's last unflushed writes (README
    // "Servers"; the logouts just now write too, and on a loaded machine the flush lags): let it flush first.
    if (server.kind === 'ejabberd') await new Promise((r) => setTimeout(r, 3_000));
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
    const other = await startServer(kind, {
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
    // Prosody: only admins may create nodes on the component, so this proves `admins` reached the config.
    // ejabberd lets any local user create them; there `admins` exempts from the shaper (checked in its config).
    if (kind === 'ejabberd')
      expect(readFileSync(path.join(other.dir, 'ejabberd.yml'), 'utf8')).toMatch(
        /admin:\n\s+user:\n\s+- admin\n/,
      );
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
      `second startServer(${kind}): ${(started - t0).toFixed(0)} ms, stop(): ${(performance.now() - stopStart).toFixed(0)} ms`,
    );
    expect(other.running).toBe(false);
    expect(existsSync(other.dir)).toBe(false);
    expect(processesOf(other)).toEqual([]); // no VM, erl_child_setup or runuser left behind
    expect(await tcpAccepts(other.c2sPort)).toBe(false);
    await other.stop();
    await expect(other.start()).rejects.toMatchObject({ code: 'IOT_ERR_STOPPED' });
    // the first server is unaffected
    expect(await tcpAccepts(server.c2sPort)).toBe(true);
  });
});

describe.skipIf(!requireSlixmpp()).each(servers())('slixmpp helper (%s)', (kind) => {
  let server: XmppServer;
  let device: Xmpp;
  const readouts: string[] = [];

  beforeAll(async () => {
    server = await startServer(kind, {
      accounts: [
        { username: 'sli', password: 'sli-pw' },
        { username: 'dev', password: 'dev-pw' },
      ],
    });
    // A minimal spec-style XEP-0323 responder: <accepted/>, then one <fields done='true'/> message;
    // an unknown nodeId gets an RFC 6120 item-not-found error.
    device = await login(server, 'dev', 'dev-pw', 'sensor');
    // Servers deliver subscription requests only to available resources.
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
