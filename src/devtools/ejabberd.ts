/**
 * A throwaway ejabberd (23.01, Debian) for tests and benchmarks, started like the Prosody one: a child process
 * group (`setsid runuser -u ejabberd -- ejabberdctl … foreground`, never the system service) on free loopback
 * ports, with its config, Mnesia spool and logs in a short temp dir owned by user `ejabberd`. Its own
 * ejabberdctl.cfg gives each instance its own node name and Erlang distribution port on 127.0.0.1, so no epmd
 * is started or needed (a system epmd, if any, is left alone). Debian's c2s shaper stays on (3000 B/s, burst
 * 20000) unless `shaper: false`: the agent must cope with it. No XEP-0198 (`mod_stream_mgmt` is off: @xmpp/client 0.14's is broken).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chownSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { IotError, MissingDependencyError } from '../core/errors.js';
import {
  canConnect,
  DOMAIN,
  freePorts,
  HOST,
  PortInUseError,
  shortTempRoot,
  sleep,
  trackLive,
  untrackLive,
} from './server-process.js';
import { findExecutable } from './system-deps.js';
import type { XmppServer, XmppServerOptions } from './xmpp-server.js';

export interface EjabberdOptions extends XmppServerOptions {
  /** PEM file(s) with certificate and key: STARTTLS is offered (not required). Without, no STARTTLS. */
  certfiles?: string[];
  /**
   * Debian's c2s shaper (3000 B/s, burst 20000; admins exempt). Default true: the agent must cope with it.
   * Benchmarks turn it off, to measure the agent rather than the shaper.
   */
  shaper?: boolean;
}

/** A throwaway ejabberd: the common server interface (see xmpp-server.ts). */
export interface EjabberdServer extends XmppServer {
  readonly kind: 'ejabberd';
  /** Erlang node name (`NAME@localhost`), unique per instance. */
  readonly node: string;
}

const USER = 'ejabberd';
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
const STARTED = ' is started in the node ';
const PORT_BIND_FAILURE = /eaddrinuse|address already in use/i;

/** Path of ejabberdctl, or throws MissingDependencyError. */
export function findEjabberdctl(): string {
  const bin = findExecutable('ejabberdctl');
  if (!bin || !userExists(USER)) throw new MissingDependencyError('ejabberd', 'apt-get install -y ejabberd');
  return bin;
}

function userExists(name: string): boolean {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .some((line) => line.startsWith(`${name}:`));
  } catch {
    return false;
  }
}

function ids(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  return { uid: Number(uid), gid: Number(gid) };
}

const LOG_LEVELS = { debug: 'debug', info: 'info', warn: 'warning', error: 'error' } as const;

function renderConfig(
  ports: { c2s: number; http: number; component: number },
  options: EjabberdOptions,
): string {
  const c2s: Record<string, unknown> = {
    port: ports.c2s,
    ip: HOST,
    module: 'ejabberd_c2s',
    max_stanza_size: 262144,
    shaper: 'c2s_shaper',
    access: 'c2s',
  };
  if (options.certfiles?.length) c2s.starttls = true;
  const listen: Record<string, unknown>[] = [
    c2s,
    {
      port: ports.http,
      ip: HOST,
      module: 'ejabberd_http',
      // /api registers accounts in ~20 ms (an `ejabberdctl register` starts a VM: ~0.8 s).
      request_handlers: { '/xmpp-websocket': 'ejabberd_http_ws', '/api': 'mod_http_api' },
    },
  ];
  if (options.components?.length) {
    listen.push({
      port: ports.component,
      ip: HOST,
      module: 'ejabberd_service',
      hosts: Object.fromEntries(options.components.map((c) => [c.name, { password: c.secret }])),
    });
  }
  const modules: Record<string, unknown> = {
    mod_adhoc: {},
    mod_caps: {},
    mod_disco: {},
    mod_http_api: {},
    mod_offline: {},
    mod_ping: {},
    mod_private: {},
    // Service nodes (pubsub.localhost) are created by any local user's first publish; PEP is always there.
    mod_pubsub: { access_createnode: 'pubsub_createnode', plugins: ['flat', 'pep'] },
    mod_roster: { versioning: true },
    mod_vcard: { search: false },
    mod_version: {},
    // No mod_stream_mgmt: XEP-0198 with @xmpp/client 0.14 is broken (see environment.md).
  };
  if (options.inBandRegistration) modules.mod_register = { access: 'register', password_strength: 0 };
  const config: Record<string, unknown> = {
    hosts: [DOMAIN],
    loglevel: LOG_LEVELS[options.logLevel ?? 'info'],
    log_rotate_count: 0,
    ...(options.certfiles?.length ? { certfiles: options.certfiles } : {}),
    listen,
    // SCRAM-SHA-1 with ejabberd's fixed 4096 iterations (no option lowers it in 23.01): each @xmpp/client login
    // costs ~0.5 s of CPU, and PLAIN is no way out (@xmpp/client never uses it on an unencrypted stream).
    disable_sasl_mechanisms: ['digest-md5', 'x-oauth2'],
    auth_password_format: 'scram',
    acl: {
      admin: { user: (options.admins ?? []).map((jid) => jid.replace(/@.*$/, '')) },
      local: { user_regexp: '' },
      loopback: { ip: ['127.0.0.0/8'] },
    },
    access_rules: {
      local: { allow: 'local' },
      c2s: { deny: 'blocked', allow: 'all' },
      announce: { allow: 'admin' },
      configure: { allow: 'admin' },
      pubsub_createnode: { allow: 'local' },
      register: { allow: 'all' },
    },
    api_permissions: {
      'loopback registration': { from: ['mod_http_api'], who: { ip: '127.0.0.1/8' }, what: ['register'] },
    },
    // Debian's defaults, kept: clients are shaped to 3000 B/s (burst 20000), admins are not.
    shaper: { normal: { rate: 3000, burst_size: 20000 }, fast: 200000 },
    shaper_rules: {
      max_user_sessions: 10,
      c2s_shaper: options.shaper === false ? 'none' : { none: 'admin', normal: 'all' },
      s2s_shaper: 'fast',
    },
    modules,
  };
  return `# Generated by src/devtools/ejabberd.ts: a throwaway test server. Never use these settings in production.\n${stringify(config)}`;
}

class Instance implements EjabberdServer {
  readonly kind = 'ejabberd';
  readonly domain = DOMAIN;
  readonly host = HOST;
  readonly dir: string;
  readonly node: string;
  readonly pubsubJid?: string;
  c2sPort = 0;
  httpPort = 0;
  componentPort = 0;
  private distPort = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private readonly logFile: string;
  private readonly outFile: string;

  constructor(
    private readonly ctlBin: string,
    private readonly options: EjabberdOptions,
  ) {
    this.dir = mkdtempSync(path.join(shortTempRoot(), 'xe-'));
    this.node = `xiot_${path.basename(this.dir).slice(3)}@localhost`;
    this.logFile = path.join(this.dir, 'logs', 'ejabberd.log');
    this.outFile = path.join(this.dir, 'console.log');
    if (options.pubsubComponent) this.pubsubJid = `pubsub.${DOMAIN}`;
  }

  get service(): string {
    return `xmpp://${HOST}:${this.c2sPort}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  logs(): string {
    const read = (file: string) => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    };
    return `${read(this.logFile)}${read(this.outFile)}`;
  }

  private logTail(lines = 25): string {
    return this.logs().trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** First start: pick ports, write the configs, start; new ports if one was taken meanwhile. */
  async init(): Promise<void> {
    const { uid, gid } = ids(USER);
    for (const sub of ['db', 'logs']) await mkdir(path.join(this.dir, sub), { recursive: true });
    await writeFile(
      path.join(this.dir, 'inetrc'),
      '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n',
    );
    for (let attempt = 1; ; attempt++) {
      const [c2s, http, component, dist] = await freePorts(4);
      this.c2sPort = c2s!;
      this.httpPort = http!;
      this.componentPort = this.options.components?.length ? component! : 0;
      this.distPort = dist!;
      await writeFile(
        path.join(this.dir, 'ejabberd.yml'),
        renderConfig({ c2s: this.c2sPort, http: this.httpPort, component: this.componentPort }, this.options),
      );
      // Our own ejabberdctl.cfg: without it Debian's (/etc/ejabberd) would name the system config and pid file.
      // A fixed ERL_DIST_PORT means no epmd; the cookie keeps other nodes out.
      await writeFile(
        path.join(this.dir, 'ejabberdctl.cfg'),
        [
          `ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -setcookie ${path.basename(this.dir).replace(/\W/g, '')}"`,
          `ERL_DIST_PORT=${this.distPort}`,
          'INET_DIST_INTERFACE=127.0.0.1',
          `ERLANG_NODE=${this.node}`,
          `EJABBERD_PID_PATH=${path.join(this.dir, 'ejabberd.pid')}`,
          `CONTRIB_MODULES_PATH=${path.join(this.dir, 'contrib')}`,
          '',
        ].join('\n'),
      );
      for (const entry of ['', 'db', 'logs', 'inetrc', 'ejabberd.yml', 'ejabberdctl.cfg'])
        chownSync(path.join(this.dir, entry), uid, gid);
      try {
        await this.start();
        return;
      } catch (err) {
        if (!(err instanceof PortInUseError) || attempt >= 3) throw err;
        await this.kill();
      }
    }
  }

  async start(): Promise<void> {
    if (this.stopping)
      throw new IotError('IOT_ERR_STOPPED', `ejabberd in ${this.dir} was stopped; start a new one`);
    if (this.child) return;
    const logStart = fileSize(this.logFile);
    const outStart = fileSize(this.outFile);
    const out = openSync(this.outFile, 'a');
    let child: ChildProcess;
    try {
      const d = this.dir;
      // detached: its own session and process group, which kill() ends as a whole (ejabberdctl runs the VM
      // as a grandchild; killing runuser alone would orphan it). The shell leaves a watchdog in that group
      // reading fd 3 and execs runuser: when this process dies in any way (a test worker killed on a hook
      // timeout runs no exit hook), fd 3 reaches EOF and the watchdog kills the group.
      const ctl = [
        this.ctlBin,
        '--config-dir',
        d,
        '--config',
        path.join(d, 'ejabberd.yml'),
        '--ctl-config',
        path.join(d, 'ejabberdctl.cfg'),
        '--spool',
        path.join(d, 'db'),
        '--logs',
        path.join(d, 'logs'),
        'foreground',
      ];
      child = spawn(
        '/bin/sh',
        ['-c', '(read line <&3; kill -KILL 0) & exec runuser -u "$0" -- "$@"', USER, ...ctl],
        { cwd: d, stdio: ['ignore', out, out, 'pipe'], detached: true },
      );
      (child.stdio[3] as Socket | null)?.unref();
    } finally {
      closeSync(out);
    }
    this.child = child;
    trackLive(this);
    let exitInfo = '';
    this.exited = new Promise<void>((resolve) => {
      const onGone = (why: string) => {
        exitInfo = why;
        (child.stdio[3] as Socket | null)?.destroy(); // the watchdog ends whatever is left of the group
        if (this.child === child) this.child = undefined;
        resolve();
      };
      child.once('exit', (code, signal) => onGone(`exited with ${signal ?? `code ${code}`}`));
      child.once('error', (err) => onGone(`failed to start: ${err.message}`));
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    const since = () => `${readFrom(this.logFile, logStart)}${readFrom(this.outFile, outStart)}`;
    for (;;) {
      const log = since();
      if (PORT_BIND_FAILURE.test(log)) {
        throw new PortInUseError(
          `ejabberd could not open its ports (${this.c2sPort}/${this.httpPort}/${this.distPort}); log:\n${this.logTail()}`,
        );
      }
      if (this.child !== child) {
        throw new IotError('IOT_ERR_XMPP', `ejabberd ${exitInfo} before it started; log:\n${this.logTail()}`);
      }
      // "is started" comes before the listeners accept: wait for both.
      if (log.includes(STARTED) && (await canConnect(this.c2sPort))) return;
      if (Date.now() > deadline) {
        throw new IotError(
          'IOT_ERR_XMPP',
          `ejabberd did not start within ${READY_TIMEOUT_MS} ms; log:\n${this.logTail()}`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child?.pid !== undefined) {
      signalGroup(child.pid, 'SIGKILL');
      await this.exited;
      // The VM is a grandchild in the same group; wait until the whole group is gone.
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (groupAlive(child.pid)) {
        if (Date.now() > deadline)
          throw new IotError('IOT_ERR_XMPP', `ejabberd process group ${child.pid} survives SIGKILL`);
        await sleep(POLL_MS);
      }
    }
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (this.c2sPort && (await canConnect(this.c2sPort))) {
      if (Date.now() > deadline)
        throw new IotError('IOT_ERR_XMPP', `port ${this.c2sPort} still accepts after kill`);
      await sleep(POLL_MS);
    }
  }

  /** SIGKILL (a graceful ejabberd stop takes 6–8 s and the data is thrown away anyway); removes the dir. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.kill();
      untrackLive(this);
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }

  async register(username: string, password: string): Promise<void> {
    if (this.stopping) throw new IotError('IOT_ERR_STOPPED', `ejabberd in ${this.dir} was stopped`);
    let reply: string;
    try {
      const res = await fetch(`http://${HOST}:${this.httpPort}/api/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: username, host: DOMAIN, password }),
        signal: AbortSignal.timeout(10_000),
      });
      reply = await res.text();
      if (res.ok) return;
    } catch (err) {
      reply = (err as Error).message;
    }
    throw new IotError('IOT_ERR_XMPP', `ejabberd register ${username}@${DOMAIN} failed: ${reply}`);
  }

  /** Synchronous last-resort cleanup from process.on('exit'). */
  killOnExit(): void {
    if (this.child?.pid !== undefined) signalGroup(this.child.pid, 'SIGKILL');
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function readFrom(file: string, offset: number): string {
  try {
    return readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

/** Starts a private ejabberd on free loopback ports and registers `options.accounts`. */
export async function startEjabberd(options: EjabberdOptions = {}): Promise<EjabberdServer> {
  if (os.userInfo().uid !== 0)
    throw new IotError('IOT_ERR_XMPP', 'a throwaway ejabberd runs as user ejabberd: start it as root');
  const server = new Instance(findEjabberdctl(), options);
  try {
    await server.init();
    await Promise.all((options.accounts ?? []).map((a) => server.register(a.username, a.password)));
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
