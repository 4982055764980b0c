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

interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line (all levels) for assertions. */
function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (fields: object, msg = '') =>
      lines.push({ level, msg, fields: fields as Record<string, unknown> });
  const logger = {
    lines,
    trace: () => undefined,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

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

async function connect(
  script: ScriptedServerOptions,
  options: Partial<TransportOptions> = {},
  log: Logger = recordingLogger(),
): Promise<Transport> {
  server = await startScriptedServer(script);
  transport = createTransport(
    {
      service: server.service,
      domain: 'localhost',
      username: 'agent',
      password: 'secret',
      resource: 'agent',
      reconnect: { minMs: 50, maxMs: 200 },
      ...options,
    },
    log,
  );
  await transport.start();
  return transport;
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
