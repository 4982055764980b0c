/**
 * The running agent's local status endpoint: a unix socket next to the store (`STORE.sock`, mode 600, so only the
 * agent's user and root may ask), answering one JSON line, the agent status, to every connection. `xiot status`
 * reads it; no XMPP account is needed to see what the agent is doing.
 */
import { chmodSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';

export function controlSocketPath(storePath: string): string {
  return `${storePath}.sock`;
}

export interface ControlSocket {
  readonly path: string;
  close(): Promise<void>;
}

export async function startControlSocket(path: string, status: () => unknown): Promise<ControlSocket> {
  // A socket file left by a killed agent: remove it only if nobody answers on it.
  if (existsSync(path) && !(await answers(path))) rmSync(path, { force: true });
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end(`${JSON.stringify({ pid: process.pid, ...(status() as object) })}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Created 600 from the start: the umask covers the window before chmod.
    const previous = process.umask(0o177);
    server.listen(path, () => {
      process.umask(previous);
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  let closed: Promise<void> | undefined;
  return {
    path,
    close: () =>
      (closed ??= new Promise<void>((resolve) => server.close(() => resolve())).then(() =>
        rmSync(path, { force: true }),
      )),
  };
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The agent's status from its socket, or undefined when no agent answers there. */
export function queryControlSocket(
  path: string,
  timeoutMs = 2000,
): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(undefined);
    const socket = net.connect(path);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, timeoutMs);
    socket.on('data', (d) => (text += d));
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text) as Record<string, unknown>);
      } catch {
        resolve(undefined);
      }
    });
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}
