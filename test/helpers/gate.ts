/**
 * A TCP forwarder to `127.0.0.1:port` that a test can hold shut: while held, every connection is dropped at once
 * (the client sees a network failure and retries with its backoff); released, connections are forwarded. Restart
 * tests use it to decide who comes back first (PEP does not redeliver to an owner who was not online); listening on
 * another address of this machine, it gives a server a name that is not loopback by name (the TLS policy tests).
 */
import net from 'node:net';

export interface Gate {
  /** The port clients connect to (on `host`). */
  readonly port: number;
  /** Everything clients sent so far. */
  fromClient(): string;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startGate(port: number, host = '127.0.0.1'): Promise<Gate> {
  let held = false;
  let fromClient = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (held) {
      client.destroy();
      return;
    }
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d: Buffer) => (fromClient += d.toString('utf8')));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    fromClient: () => fromClient,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
