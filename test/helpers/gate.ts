/**
 * A TCP forwarder on loopback that a test can hold shut: while held, every connection is dropped at once (the
 * client sees a network failure and retries with its backoff); released, connections are forwarded to `port`.
 * Restart tests use it to decide who comes back first (PEP does not redeliver to an owner who was not online).
 */
import net from 'node:net';

export interface Gate {
  /** The loopback port clients connect to. */
  readonly port: number;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startGate(port: number): Promise<Gate> {
  let held = false;
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
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
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
