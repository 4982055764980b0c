import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { WsSocket } from '../../src/xmpp/websocket.js';

const servers: WebSocketServer[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          for (const c of s.clients) c.terminate();
          s.close(() => resolve());
        }),
    ),
  );
});

async function server(onConnection: (ws: import('ws').WebSocket) => void = () => undefined) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'xmpp' });
  servers.push(wss);
  wss.on('connection', onConnection);
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/xmpp-websocket`;
}

const options = { maxPayload: 1024, handshakeTimeoutMs: 5000 };
const once = <T>(socket: WsSocket, event: string) =>
  new Promise<T>((resolve) => socket.once(event, (...args: unknown[]) => resolve(args as T)));

describe('WebSocket socket (ws) for @xmpp/connection', () => {
  it('is secure only for wss://: on ws:// PLAIN is never chosen, not even on loopback', async () => {
    const socket = new WsSocket(options);
    socket.connect(await server());
    await once(socket, 'connect');
    expect(socket.secure).toBe(false);
    socket.destroy();
  });

  it('passes text frames on as strings, one element each, and writes with a real callback', async () => {
    let received = '';
    const url = await server((ws) => {
      ws.on('message', (d) => (received += String(d)));
      ws.send('<open xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>');
    });
    const socket = new WsSocket(options);
    const data = once<[unknown]>(socket, 'data');
    socket.connect(url);
    await once(socket, 'connect');
    expect((await data)[0]).toBe('<open xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>');
    const err = await new Promise<Error | undefined>((resolve) => socket.write('<presence/>', resolve));
    expect(err).toBeUndefined();
    await expect.poll(() => received).toBe('<presence/>');
    socket.destroy();
  });

  it('drops the connection instead of buffering a frame larger than maxPayload, and says so', async () => {
    const url = await server((ws) => ws.send('x'.repeat(4096)));
    const socket = new WsSocket(options);
    const error = once<[Error & { code?: string }]>(socket, 'error');
    const closed = once<[boolean]>(socket, 'close');
    socket.connect(url);
    const [err] = await error;
    expect(err.code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect(err.message).toMatch(
      /sent a WebSocket frame over 1024 bytes \(4 × maxStanzaBytes\): connection dropped$/,
    );
    expect((await closed)[0]).toBe(true); // unclean
  });

  it('a write after the close calls back with an error instead of throwing', async () => {
    const socket = new WsSocket(options);
    socket.connect(await server());
    await once(socket, 'connect');
    const closed = once(socket, 'close');
    socket.destroy();
    await closed;
    const err = await new Promise<Error | undefined>((resolve) => socket.write('<presence/>', resolve));
    expect(err?.message).toBe('WebSocket is not open');
  });

  it('names a server that does not agree on the xmpp subprotocol', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => false });
    servers.push(wss);
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const socket = new WsSocket(options);
    const error = once<[Error & { code?: string }]>(socket, 'error');
    socket.connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`);
    const [err] = await error;
    expect(err.code).toBe('WEBSOCKET_SETUP');
    expect(err.message).toMatch(/is not an XMPP WebSocket endpoint .*RFC 7395 needs the "xmpp" subprotocol/);
  });
});
