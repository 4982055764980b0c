/**
 * What the throwaway servers (prosody.ts, ejabberd.ts) share: free loopback ports, a readiness probe, short
 * temp dirs, and the exit hook that kills the instances still alive when Node exits.
 */
import net from 'node:net';
import os from 'node:os';
import { IotError } from '../core/errors.js';

export const HOST = '127.0.0.1';
export const DOMAIN = 'localhost';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Free ports on 127.0.0.1, found by binding port 0 (all held at once so they differ). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.unref();
          s.once('error', reject);
          s.listen(0, HOST, () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** True when something accepts a TCP connection on the port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A temp root short enough for Prosody's admin socket path (under ~107 characters). */
export function shortTempRoot(): string {
  const tmp = os.tmpdir();
  return tmp.length <= 40 ? tmp : '/tmp';
}

/** The server could not bind one of its ports (taken between choosing and binding): retry with new ones. */
export class PortInUseError extends IotError {
  constructor(message: string) {
    super('IOT_ERR_XMPP', message);
  }
}

/** Servers not stopped yet: killed and removed synchronously when Node exits. */
const live = new Set<{ killOnExit(): void }>();
let exitHookInstalled = false;

export function trackLive(server: { killOnExit(): void }): void {
  live.add(server);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) s.killOnExit();
  });
}

export function untrackLive(server: { killOnExit(): void }): void {
  live.delete(server);
}
