/**
 * The connection against scripted servers on loopback: what real servers do only by accident
 * (answering before our write completes, garbage, silence, odd features).
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import type { Logger } from '../../src/core/logger.js';
import { createTransport, type Transport, type TransportOptions } from '../../src/xmpp/transport.js';
import {
  type ScriptedServer,
  type ScriptedServerOptions,
  startScriptedServer,
} from '../helpers/scripted-server.js';
import { waitFor } from '../helpers/agent.js';
import { recordingLogger, warnings } from '../helpers/transport.js';

const PUBSUB = 'http://jabber.org/protocol/pubsub';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

let server: ScriptedServer | undefined;
let transport: Transport | undefined;
const restore: Array<() => void> = [];

afterEach(async () => {
  for (const undo of restore.splice(0)) undo();
  await transport?.stop();
  transport = undefined;
  await server?.close();
  server = undefined;
});

function create(service: string, options: Partial<TransportOptions>, log: Logger): Transport {
  transport = createTransport(
    {
      service,
      domain: 'localhost',
      username: 'agent',
      password: 'secret',
      resource: 'agent',
      reconnect: { minMs: 50, maxMs: 200 },
      ...options,
    },
    log,
  );
  return transport;
}

async function connect(
  script: ScriptedServerOptions,
  options: Partial<TransportOptions> = {},
  log: Logger = recordingLogger(),
): Promise<Transport> {
  server = await startScriptedServer(script);
  const t = create(server.service, options, log);
  await t.start();
  return t;
}

function publish(size: number): Element {
  return xml(
    'iq',
    { type: 'set' },
    xml(
      'pubsub',
      { xmlns: PUBSUB },
      xml('publish', { node: 'n' }, xml('item', {}, xml('x', { xmlns: 'urn:test' }, 'v'.repeat(size)))),
    ),
  );
}

describe('transport.request', () => {
  it('rejects every request of a pipelined window answered with errors before the writes complete, and nothing is unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const t = await connect({
        onElement: (el, conn) => {
          if (el.is('iq'))
            conn.reply(el, 'error', `<error type='wait'><resource-constraint xmlns='${STANZAS}'/></error>`);
        },
      });
      // Write callbacks that complete late (a backed-up socket under a shaper), deterministically: the data
      // goes out at once, the callback fires 30 ms later, after the server's reply has been read.
      const write = net.Socket.prototype.write;
      net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
        const cb = args.findIndex((a) => typeof a === 'function');
        if (cb >= 0) {
          const done = args[cb] as (err?: Error | null) => void;
          args[cb] = (err?: Error | null) => setTimeout(() => done(err), 30);
        }
        return (write as (...a: unknown[]) => boolean).apply(this, args);
      } as typeof write;
      restore.push(() => (net.Socket.prototype.write = write));
      const results = await Promise.allSettled(Array.from({ length: 64 }, () => t.request(publish(65_536))));
      await new Promise((r) => setTimeout(r, 50));
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
      expect(
        results
          .map((r) => (r as PromiseRejectedResult).reason)
          .every((e) => e.condition === 'resource-constraint'),
      ).toBe(true);
      expect(unhandled).toEqual([]);
      expect(t.online).toBe(true);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('with timeout 0 waits for a slow answer as long as the stream is up', async () => {
    const held: Array<() => void> = [];
    const t = await connect({
      onElement: (el, conn) => {
        if (el.is('iq')) held.push(() => conn.reply(el, 'result'));
      },
    });
    const answer = t.request(publish(10), 0);
    let settled = false;
    void answer.then(
      () => (settled = true),
      () => (settled = true),
    );
    await waitFor('the request at the server', () => held.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    held[0]!();
    await expect(answer).resolves.toMatchObject({ name: 'iq', attrs: { type: 'result' } });
  });

  it('keeps the timeout of a positive timeoutMs', async () => {
    const t = await connect({ onElement: () => undefined });
    await expect(t.request(publish(10), 100)).rejects.toMatchObject({ code: 'IOT_ERR_XMPP_TIMEOUT' });
  });

  it('rejects pending requests with IOT_ERR_OFFLINE when the connection drops, and at once while offline', async () => {
    const t = await connect({ onElement: () => undefined });
    const waiting = t.request(publish(10), 0);
    await waitFor('the request at the server', () =>
      server!.connections[0]!.received.some((e) => e.is('iq')),
    );
    server!.connections[0]!.socket.destroy();
    await expect(waiting).rejects.toMatchObject({ code: 'IOT_ERR_OFFLINE' });
    await expect(t.request(publish(10), 0)).rejects.toMatchObject({ code: 'IOT_ERR_OFFLINE' });
  });

  it('rejects pending requests with IOT_ERR_OFFLINE on stop()', async () => {
    const t = await connect({ onElement: () => undefined });
    const waiting = t.request(publish(10), 0);
    await waitFor('the request at the server', () =>
      server!.connections[0]!.received.some((e) => e.is('iq')),
    );
    await t.stop();
    await expect(waiting).rejects.toMatchObject({ code: 'IOT_ERR_OFFLINE' });
  });

  it('turns an error reply without <error/> into undefined-condition', async () => {
    const t = await connect({
      onElement: (el, conn) => {
        if (el.is('iq'))
          conn.reply(el, 'error', '<rejected xmlns="urn:xmpp:iot:sensordata"><error>busy</error></rejected>');
      },
    });
    await expect(t.request(publish(10))).rejects.toMatchObject({ condition: 'undefined-condition' });
    expect(t.online).toBe(true);
  });
});

const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';
const BIND = "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>";

describe('transport connection loop', () => {
  it('schedules exactly one attempt per failure while the server refuses connections', async () => {
    const script: ScriptedServerOptions = { refuse: true };
    server = await startScriptedServer(script);
    const log = recordingLogger();
    const t = create(server.service, { reconnect: { minMs: 100, maxMs: 100 } }, log);
    void t.start();
    await new Promise((r) => setTimeout(r, 1500));
    const reports = log.lines.filter((l) => /cannot connect/.test(l.msg));
    const accepted = [...server.accepted];
    // One report per attempt, attempts numbered 1, 2, 3, … and spaced by the backoff (≥ 50 ms with jitter).
    expect(Math.abs(accepted.length - reports.length)).toBeLessThanOrEqual(1);
    expect(reports.map((r) => r.fields.attempt)).toEqual(reports.map((_, i) => i + 1));
    const gaps = accepted.slice(1).map((at, i) => at - accepted[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(45);
    script.refuse = false;
    await waitFor('online once the server accepts', () => t.online, 2000);
  });

  it('is online within 10 s of the server accepting connections after a 12 s outage, with default settings', async () => {
    const script: ScriptedServerOptions = { refuse: true };
    server = await startScriptedServer(script);
    const t = create(server.service, { reconnect: undefined }, recordingLogger());
    void t.start();
    await new Promise((r) => setTimeout(r, 12_000));
    script.refuse = false;
    const upAt = Date.now();
    await waitFor('online', () => t.online, 10_000);
    expect(Date.now() - upAt).toBeLessThan(10_000);
  }, 30_000);

  it('logs a PLAIN-only server without TLS with its reason at every attempt and keeps retrying', async () => {
    server = await startScriptedServer({
      features: `<mechanisms xmlns='${SASL}'><mechanism>PLAIN</mechanism></mechanisms>`,
    });
    const log = recordingLogger();
    const t = create(server.service, { reconnect: { minMs: 20, maxMs: 100 } }, log);
    void t.start();
    await waitFor('three refusals logged', () => warnings(log, /PLAIN/).length >= 3, 5000);
    expect(warnings(log, /PLAIN/)[0]!.fields.reason).toMatch(
      /no usable SASL mechanism \(offered: PLAIN\); PLAIN is never sent over an unencrypted stream/,
    );
    expect(server.connections.length).toBeGreaterThanOrEqual(3);
    expect(server.connections.every((c) => !c.received.some((e) => e.is('auth', SASL)))).toBe(true);
    expect(t.lastFailure).toMatch(/PLAIN/);
  });

  it('fails the first start on a refused password with a clear error', async () => {
    server = await startScriptedServer({
      features: `<mechanisms xmlns='${SASL}'><mechanism>SCRAM-SHA-1</mechanism></mechanisms>`,
      onElement: (el, conn) => {
        if (el.is('auth', SASL)) conn.write(`<failure xmlns='${SASL}'><not-authorized/></failure>`);
      },
    });
    const t = create(server.service, {}, recordingLogger());
    await expect(t.start()).rejects.toThrow(/authentication failed for agent@localhost: check xmpp.username/);
  });

  it('after a later refused login, logs the reason at every attempt and retries with backoff', async () => {
    server = await startScriptedServer({
      // The first session logs in without SASL; from the second on the password is refused.
      features: (conn) =>
        conn.index === 0
          ? BIND
          : `<mechanisms xmlns='${SASL}'><mechanism>SCRAM-SHA-1</mechanism></mechanisms>`,
      onElement: (el, conn) => {
        if (el.is('auth', SASL)) conn.write(`<failure xmlns='${SASL}'><not-authorized/></failure>`);
      },
    });
    const log = recordingLogger();
    const t = create(server.service, { reconnect: { minMs: 20, maxMs: 100 } }, log);
    await t.start();
    server.connections[0]!.socket.destroy();
    await waitFor('three refusals logged', () => warnings(log, /not-authorized/).length >= 3, 5000);
    const refusals = warnings(log, /not-authorized/);
    expect(refusals[0]!.fields.reason).toMatch(
      /authentication refused for agent@localhost \(not-authorized\)/,
    );
    // Backoff for refusals: from 5 × reconnect.min, growing.
    expect(refusals.map((r) => r.fields.inMs as number).every((ms) => ms >= 50)).toBe(true);
    expect(t.online).toBe(false);
  });

  it('names a conflict and backs off long instead of fighting', async () => {
    server = await startScriptedServer({});
    const log = recordingLogger();
    const t = create(server.service, { reconnect: { minMs: 50, maxMs: 200 } }, log);
    await t.start();
    server.connections[0]!.write(
      `<stream:error><conflict xmlns='${STREAMS}'/></stream:error></stream:stream>`,
    );
    await waitFor('offline', () => !t.online);
    const line = await waitFor('the conflict logged', () =>
      log.lines.find((l) => l.level === 'warn' && /conflict/.test(String(l.fields.reason))),
    );
    expect(line.fields.reason).toBe('another connection uses resource agent: conflict');
    // 60 × reconnect.min = 3 s here (30–60 s with defaults), with jitter: at least half of it.
    expect(line.fields.inMs).toBeGreaterThanOrEqual(1500);
    await new Promise((r) => setTimeout(r, 1000));
    expect(server.connections.length).toBe(1);
  });
});

describe('transport TLS policy', () => {
  it('with tls: required, refuses to authenticate on a stream without STARTTLS, says why, and retries', async () => {
    server = await startScriptedServer({
      features: `<mechanisms xmlns='${SASL}'><mechanism>SCRAM-SHA-1</mechanism></mechanisms>${BIND}`,
    });
    const log = recordingLogger();
    const t = create(server.service, { tls: 'required', reconnect: { minMs: 20, maxMs: 100 } }, log);
    void t.start();
    await waitFor('two refusals logged', () => warnings(log, /xmpp.tls/).length >= 2, 5000);
    expect(warnings(log, /xmpp.tls/)[0]!.fields.reason).toMatch(
      /offers no TLS \(STARTTLS\) and xmpp.tls is "required": not logging in over an unencrypted stream/,
    );
    expect(server.connections.every((c) => c.received.every((e) => !e.is('auth', SASL) && !e.is('iq')))).toBe(
      true,
    );
    expect(t.online).toBe(false);
  });

  it('with tls: off, ignores an offered STARTTLS', async () => {
    const t = await connect(
      { features: `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>${BIND}` },
      { tls: 'off' },
    );
    expect(t.online).toBe(true);
    expect(server!.connections[0]!.received.some((e) => e.is('starttls'))).toBe(false);
  });
});

describe('transport keepalive', () => {
  it('pings an idle server and reconnects when no byte at all comes back', async () => {
    const log = recordingLogger();
    const t = await connect(
      { onElement: () => undefined }, // a server that reads but never answers
      { keepalive: { intervalMs: 300, timeoutMs: 300 } },
      log,
    );
    const offlineAt = new Promise<number>((resolve) => t.on('offline', () => resolve(Date.now())));
    const startedAt = Date.now();
    const down = await offlineAt;
    expect(down - startedAt).toBeGreaterThanOrEqual(550);
    expect(down - startedAt).toBeLessThan(2000);
    expect(
      server!.connections[0]!.received.some((e) => e.is('iq') && e.getChild('ping', 'urn:xmpp:ping')),
    ).toBe(true);
    await waitFor('online again', () => t.online && server!.connections.length === 2, 3000);
  });

  it('stays online while the server answers pings', async () => {
    const t = await connect(
      {
        onElement: (el, conn) => {
          if (el.is('iq') && el.getChild('ping', 'urn:xmpp:ping')) conn.reply(el, 'result');
        },
      },
      { keepalive: { intervalMs: 200, timeoutMs: 200 } },
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(t.online).toBe(true);
    expect(server!.connections.length).toBe(1);
    expect(server!.connections[0]!.received.filter((e) => e.is('iq')).length).toBeGreaterThanOrEqual(3);
  });
});

describe('transport robustness', () => {
  it('survives a throwing listener, odd replies and garbage: logs, reconnects, keeps running', async () => {
    const log = recordingLogger();
    const t = await connect(
      { onElement: () => undefined },
      { keepalive: { intervalMs: 300, timeoutMs: 300 } },
      log,
    );
    t.on('stanza', () => {
      throw new Error('listener bug');
    });
    t.on('stanza', async () => {
      throw new Error('async listener bug');
    });
    const conn = server!.connections[0]!;
    conn.write("<message from='x@y'><body>hi</body></message>");
    conn.write("<iq type='result' id='nobody-asked'><weird xmlns='urn:x'/></iq>");
    conn.write("<iq type='error' id='nobody-asked-either'/>");
    await waitFor(
      'listener failures logged',
      () => log.lines.filter((l) => l.msg === 'listener failed').length >= 6,
    );
    expect(t.online).toBe(true);
    // Garbage that leaves ltx waiting forever: bytes arrive, no element does; the keepalive ends the stream.
    conn.write('<<<not xml>>> </nothing>');
    await waitFor(
      'online again on a new connection',
      () => t.online && server!.connections.length === 2,
      3000,
    );
    // A malformed end tag: a parse error, the stream is closed at once.
    server!.connections[1]!.write('</nothing>');
    await waitFor('online on a third connection', () => t.online && server!.connections.length === 3, 3000);
  });
});

describe('transport limits', () => {
  const big = (bytes: number, id = 'big1', from = 'stranger@localhost/x') =>
    `<iq type='set' id='${id}' from='${from}'><query xmlns='urn:test:big'><v>${'a'.repeat(bytes)}</v></query></iq>`;

  it('answers an IQ over maxStanzaBytes with a small policy-violation and keeps the stream', async () => {
    const log = recordingLogger();
    const t = await connect({ onElement: () => undefined }, { maxStanzaBytes: 64 * 1024 }, log);
    const conn = server!.connections[0]!;
    conn.write(big(1024 * 1024));
    const reply = await waitFor('the error reply', () =>
      conn.received.find((e) => e.is('iq') && e.attrs.id === 'big1'),
    );
    expect(reply.attrs).toMatchObject({ type: 'error', to: 'stranger@localhost/x' });
    expect(reply.getChild('error')?.getChild('policy-violation', STANZAS)).toBeDefined();
    expect(reply.toString().length).toBeLessThan(400);
    // Other oversized stanzas are dropped with a log line; the stream goes on.
    conn.write(`<message from='x@y'><body>${'b'.repeat(100_000)}</body></message>`);
    await waitFor('dropped and logged', () => log.lines.some((l) => /dropped a stanza larger/.test(l.msg)));
    conn.write("<iq type='get' id='p1' from='x@y/z'><ping xmlns='urn:xmpp:ping'/></iq>");
    await waitFor('a ping answered afterwards', () => conn.received.some((e) => e.attrs.id === 'p1'));
    expect(t.online).toBe(true);
    expect(server!.connections.length).toBe(1);
  });

  it('rejects a pending request whose answer is over maxStanzaBytes', async () => {
    const t = await connect(
      {
        onElement: (el, conn) => {
          if (el.is('iq') && el.attrs.type === 'get')
            conn.reply(el, 'result', `<x xmlns='urn:x'>${'c'.repeat(200_000)}</x>`);
        },
      },
      { maxStanzaBytes: 64 * 1024 },
    );
    await expect(
      t.request(xml('iq', { type: 'get' }, xml('x', { xmlns: 'urn:x' })), 0),
    ).rejects.toMatchObject({
      condition: 'policy-violation',
    });
  });

  it('answers requests to its handlers as @xmpp/client would: payload, empty result, addressing, malformed ones', async () => {
    server = await startScriptedServer({ onElement: () => undefined });
    const t = create(server.service, {}, recordingLogger());
    t.handleIq('get', 'urn:test:echo', 'q', (stanza, q) =>
      xml('a', { xmlns: 'urn:test:echo', n: q.attrs.n as string, from: stanza.attrs.from as string }),
    );
    t.handleIq('set', 'urn:test:empty', 'q', async () => true);
    const seen: string[] = [];
    t.on('stanza', (s: Element) => void seen.push(String(s.attrs.id)));
    await t.start();
    const conn = server.connections[0]!;
    conn.write(
      `<iq type='get' id='e1' to='t@localhost/r' from='s@localhost/x'><q xmlns='urn:test:echo' n='7'/></iq>`,
    );
    conn.write(`<iq type='set' id='e2' from='s@localhost/x'><q xmlns='urn:test:empty'/></iq>`);
    // Not for a handler as registered (type), and malformed (two children): @xmpp/client answers those.
    conn.write(`<iq type='set' id='e3' from='s@localhost/x'><q xmlns='urn:test:echo'/></iq>`);
    conn.write(
      `<iq type='get' id='e4' from='s@localhost/x'><q xmlns='urn:test:echo'/><q xmlns='urn:test:echo'/></iq>`,
    );
    const reply = (id: string) => waitFor(`reply ${id}`, () => conn.received.find((e) => e.attrs.id === id));
    const e1 = await reply('e1');
    expect(e1.attrs).toMatchObject({ type: 'result', to: 's@localhost/x', from: 't@localhost/r' });
    expect(e1.getChild('a', 'urn:test:echo')?.attrs).toMatchObject({ n: '7', from: 's@localhost/x' });
    const e2 = await reply('e2');
    expect(e2.attrs.type).toBe('result');
    expect(e2.children).toHaveLength(0);
    expect((await reply('e3')).getChild('error')?.getChild('service-unavailable', STANZAS)).toBeDefined();
    expect((await reply('e4')).getChild('error')?.getChild('bad-request', STANZAS)).toBeDefined();
    expect(seen).toEqual(expect.arrayContaining(['e1', 'e2', 'e3', 'e4'])); // 'stanza' listeners saw them all
  });

  it('never echoes the request in error replies (unhandled namespace, handler error, stanza error)', async () => {
    server = await startScriptedServer({ onElement: () => undefined });
    const t = create(server.service, {}, recordingLogger());
    t.handleIq('set', 'urn:test:throws', 'query', () => {
      throw new Error('boom');
    });
    t.handleIq('set', 'urn:test:refuses', 'query', () =>
      xml(
        'error',
        { type: 'cancel' },
        xml('not-allowed', { xmlns: STANZAS }),
        xml('text', { xmlns: STANZAS }, 'x'.repeat(100_000)),
      ),
    );
    await t.start();
    const conn = server.connections[0]!;
    const request = (id: string, ns: string) =>
      `<iq type='set' id='${id}' from='s@localhost/x'><query xmlns='${ns}'><v>${'a'.repeat(200_000)}</v></query></iq>`;
    conn.write(request('u1', 'urn:test:unknown'));
    conn.write(request('u2', 'urn:test:throws'));
    conn.write(request('u3', 'urn:test:refuses'));
    for (const [id, condition] of [
      ['u1', 'service-unavailable'],
      ['u2', 'internal-server-error'],
      ['u3', 'not-allowed'],
    ] as const) {
      const reply = await waitFor(`reply ${id}`, () => conn.received.find((e) => e.attrs.id === id));
      expect(reply.attrs.type).toBe('error');
      expect(reply.getChild('error')?.getChild(condition, STANZAS)).toBeDefined();
      expect(reply.getChild('query')).toBeUndefined();
      expect(reply.toString().length).toBeLessThan(600);
    }
  });

  it('stops reading while replies cannot be written, so memory stays bounded, and resumes when drained', async () => {
    const maxQueuedBytes = 256 * 1024;
    let handled = 0;
    server = await startScriptedServer({ onElement: () => undefined });
    const t = create(server.service, { maxQueuedBytes }, recordingLogger());
    t.handleIq('get', 'urn:test:flood', 'q', () => {
      handled++;
      return xml('q', { xmlns: 'urn:test:flood' }, 'r'.repeat(16 * 1024));
    });
    await t.start();
    const conn = server.connections[0]!;
    conn.socket.pause(); // the server stops reading: our replies pile up
    const total = 5000;
    const pad = 'p'.repeat(2000);
    for (let i = 0; i < total; i++)
      conn.write(
        `<iq type='get' id='f${i}' from='s@localhost/x'><q xmlns='urn:test:flood' pad='${pad}'/></iq>`,
      );
    await waitFor('reading paused', () => t.flow?.readingPaused, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    const handledWhilePaused = handled;
    let maxQueued = 0;
    for (let i = 0; i < 10; i++) {
      maxQueued = Math.max(maxQueued, t.flow?.queuedBytes ?? 0);
      await new Promise((r) => setTimeout(r, 50));
    }
    console.info(
      `backpressure: ${handled}/${total} requests read before pausing, queue peak ${maxQueued} B (bound ${maxQueuedBytes} B), ${conn.socket.writableLength} B held back at the sender`,
    );
    expect(handled).toBe(handledWhilePaused); // nothing more read
    expect(handled).toBeLessThan(total / 2);
    expect(conn.socket.writableLength).toBeGreaterThan(0); // the server could not write the rest to us
    expect(maxQueued).toBeLessThan(maxQueuedBytes + 2 * 1024 * 1024);
    conn.socket.resume();
    await waitFor('every request answered', () => handled === total, 30_000);
    expect(t.online).toBe(true);
  }, 60_000);
});

describe('transport.coalesce', () => {
  it('sends the stanzas of one event-loop turn in one write, in order; later ones go on their own', async () => {
    const chunks: string[] = [];
    const t = await connect({
      onConnection: (conn) => conn.socket.on('data', (d: Buffer) => chunks.push(d.toString())),
      onElement: () => undefined,
    });
    chunks.length = 0;
    t.coalesce?.();
    await t.send(xml('message', { to: 'a@localhost', id: 'first' }));
    await t.send(xml('message', { to: 'a@localhost', id: 'second' }));
    await waitFor('both stanzas', () => server!.connections[0]!.received.length >= 2, 2000);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatch(/id=["']first["'].*id=["']second["']/s);

    // Without coalesce() (the cork ended at the next turn), each stanza is its own write.
    await new Promise((r) => setImmediate(r));
    chunks.length = 0;
    await t.send(xml('message', { to: 'a@localhost', id: 'third' }));
    await waitFor('the third stanza', () => chunks.length === 1, 2000);
    await new Promise((r) => setTimeout(r, 20));
    await t.send(xml('message', { to: 'a@localhost', id: 'fourth' }));
    await waitFor('the fourth stanza', () => chunks.length === 2, 2000);
  });
});
