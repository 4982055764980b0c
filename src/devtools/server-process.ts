/**
 * What the throwaway servers (prosody.ts, ejabberd.ts) share: free loopback ports, a readiness probe, short
 * temp dirs, the exit hook that kills the instances still alive when Node exits, and `ServerProcess`, the
 * child process's lifecycle (start on free ports, kill, stop) around what each server does its own way.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { IotError } from '../core/errors.js';
import type { XmppServerOptions } from './xmpp-server.js';

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

/** Calls `done` every `pollMs` until it is true; throws `timeout()` once `timeoutMs` have passed. */
async function pollUntil(
  done: () => boolean | Promise<boolean>,
  timeoutMs: number,
  pollMs: number,
  timeout: () => Error,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw timeout();
    await sleep(pollMs);
  }
}

/** The ports a server's config names; 0 for a listener that is off. */
export interface Ports {
  c2s: number;
  http: number;
  component: number;
  directTls: number;
  https: number;
}

/** How long a server may take to accept connections (and to free its port after a kill), and how often to look. */
export interface Timing {
  readyTimeoutMs: number;
  pollMs: number;
}

/**
 * One throwaway server as a child process: its ports, start on free ports (new ones when a port was taken
 * meanwhile), kill, stop and the exit-hook cleanup. Subclasses spawn the server, say when it is ready and how
 * its process (or process group) is ended.
 */
export abstract class ServerProcess {
  readonly domain = DOMAIN;
  readonly host = HOST;
  readonly dir: string;
  readonly pubsubJid?: string;
  c2sPort = 0;
  httpPort = 0;
  componentPort = 0;
  directTlsPort = 0;
  httpsPort = 0;
  protected child: ChildProcess | undefined;
  protected exited: Promise<void> = Promise.resolve();
  protected stopping: Promise<void> | undefined;

  /** `name` as errors say it ("Prosody"), `dirPrefix` of its temp dir. */
  protected constructor(
    protected readonly name: string,
    dirPrefix: string,
    options: XmppServerOptions,
    protected readonly timing: Timing,
  ) {
    this.dir = mkdtempSync(path.join(shortTempRoot(), dirPrefix));
    if (options.pubsubComponent) this.pubsubJid = `pubsub.${DOMAIN}`;
  }

  get service(): string {
    return `xmpp://${HOST}:${this.c2sPort}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  abstract logs(): string;

  abstract start(): Promise<void>;

  /** SIGKILL to the server and whatever it started; resolves once they are gone. */
  protected abstract killChild(): Promise<void>;

  /** How stop() ends the server. */
  protected abstract terminate(): Promise<void>;

  /** SIGKILL without waiting, for the exit hook. */
  protected abstract killChildNow(): void;

  /** pollUntil with this server's timing. */
  protected poll(done: () => boolean | Promise<boolean>, timeout: () => Error): Promise<void> {
    return pollUntil(done, this.timing.readyTimeoutMs, this.timing.pollMs, timeout);
  }

  protected logTail(lines = 25): string {
    return this.logs().trimEnd().split('\n').slice(-lines).join('\n');
  }

  protected refuseIfStopped(hint = ''): void {
    if (this.stopping)
      throw new IotError('IOT_ERR_STOPPED', `${this.name} in ${this.dir} was stopped${hint}`);
  }

  protected get ports(): Ports {
    return {
      c2s: this.c2sPort,
      http: this.httpPort,
      component: this.componentPort,
      directTls: this.directTlsPort,
      https: this.httpsPort,
    };
  }

  /**
   * First start: free ports (the five of `Ports`, then `extraPorts` more, passed to `writeConfig`), the config
   * written, start; new ports if one was taken meanwhile (PortInUseError), at most three times.
   */
  protected async startOnFreePorts(
    options: XmppServerOptions,
    extraPorts: number,
    writeConfig: (extra: number[]) => Promise<void>,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const [c2s, http, component, directTls, https, ...extra] = await freePorts(5 + extraPorts);
      this.c2sPort = c2s!;
      this.httpPort = http!;
      this.componentPort = options.components?.length ? component! : 0;
      this.directTlsPort = options.tls ? directTls! : 0;
      this.httpsPort = options.tls ? https! : 0;
      await writeConfig(extra);
      try {
        await this.start();
        return;
      } catch (err) {
        if (!(err instanceof PortInUseError) || attempt >= 3) throw err;
        await this.kill();
      }
    }
  }

  /**
   * Spawns the server with stdout and stderr appended to `outFile`, tracked for the exit hook; `exited` settles
   * when it is gone (after `onGone`). Returns the child and how it ended ("exited with code 1"), once it has.
   */
  protected launch(
    outFile: string,
    spawnChild: (out: number) => ChildProcess,
    onGone: (child: ChildProcess) => void = () => undefined,
  ): { child: ChildProcess; exitInfo: () => string } {
    const out = openSync(outFile, 'a');
    let child: ChildProcess;
    try {
      child = spawnChild(out);
    } finally {
      closeSync(out);
    }
    this.child = child;
    trackLive(this);
    let exitInfo = '';
    this.exited = new Promise<void>((resolve) => {
      const gone = (why: string) => {
        exitInfo = why;
        onGone(child);
        if (this.child === child) this.child = undefined;
        resolve();
      };
      child.once('exit', (code, signal) => gone(`exited with ${signal ?? `code ${code}`}`));
      child.once('error', (err) => gone(`failed to start: ${err.message}`));
    });
    return { child, exitInfo: () => exitInfo };
  }

  /** Every c2s port accepts (a server may open them one after the other). */
  protected async listening(): Promise<boolean> {
    for (const port of [this.c2sPort, this.directTlsPort, this.httpsPort])
      if (port && !(await canConnect(port))) return false;
    return true;
  }

  async kill(): Promise<void> {
    await this.killChild();
    await this.poll(
      async () => !(this.c2sPort && (await canConnect(this.c2sPort))),
      () => new IotError('IOT_ERR_XMPP', `port ${this.c2sPort} still accepts after kill`),
    );
  }

  async shutdown(): Promise<void> {
    await this.terminate();
    await this.poll(
      async () => !(this.c2sPort && (await canConnect(this.c2sPort))),
      () => new IotError('IOT_ERR_XMPP', `port ${this.c2sPort} still accepts after shutdown`),
    );
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.terminate();
      untrackLive(this);
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }

  /** Synchronous last-resort cleanup from process.on('exit'). */
  killOnExit(): void {
    this.killChildNow();
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}
