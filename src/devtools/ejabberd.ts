/**
 * A throwaway ejabberd (23.01, Debian) for tests and benchmarks, started like the Prosody one: a child process
 * group (`setsid runuser -u ejabberd -- ejabberdctl … foreground`, never the system service) on free loopback
 * ports, with its config, Mnesia spool and logs in a short temp dir owned by user `ejabberd`. Its own
 * ejabberdctl.cfg gives each instance its own node name and Erlang distribution port on 127.0.0.1, so no epmd
 * is started or needed (a system epmd, if any, is left alone). Debian's c2s shaper stays on (3000 B/s, burst
 * 20000) unless `shaper: false`: the agent must cope with it. No XEP-0198 (`mod_stream_mgmt` is off: @xmpp/client 0.14's is broken).
 */
import { spawn } from 'node:child_process';
import { chownSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { IotError, MissingDependencyError } from '../core/errors.js';
import { DOMAIN, HOST, type Ports, PortInUseError, ServerProcess } from './server-process.js';
import { findExecutable } from './system-deps.js';
import type { XmppServer, XmppServerOptions } from './xmpp-server.js';

/** Mnesia's log reaches the disk within 2 s (disk_log's delayed_write): wait a little longer before a SIGKILL. */
const MNESIA_FLUSH_MS = 2_500;

export interface EjabberdOptions extends XmppServerOptions {
  /**
   * PEM file(s) with certificate and key, readable by user ejabberd: STARTTLS is offered (not required).
   * Without (and without `tls`), no STARTTLS. `tls` also opens the direct TLS and HTTPS listeners.
   */
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

function renderConfig(ports: Ports, options: EjabberdOptions, certfiles: string[]): string {
  const c2s: Record<string, unknown> = {
    port: ports.c2s,
    ip: HOST,
    module: 'ejabberd_c2s',
    max_stanza_size: 262144,
    shaper: 'c2s_shaper',
    access: 'c2s',
  };
  if (certfiles.length) c2s.starttls = true;
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
  if (ports.directTls) listen.push({ ...c2s, port: ports.directTls, starttls: false, tls: true });
  if (ports.https) {
    listen.push({
      port: ports.https,
      ip: HOST,
      module: 'ejabberd_http',
      tls: true,
      request_handlers: { '/xmpp-websocket': 'ejabberd_http_ws' },
    });
  }
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
    ...(certfiles.length ? { certfiles } : {}),
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

class Instance extends ServerProcess implements EjabberdServer {
  readonly kind = 'ejabberd';
  readonly node: string;
  private distPort = 0;
  private readonly logFile: string;
  private readonly outFile: string;

  constructor(
    private readonly ctlBin: string,
    private readonly options: EjabberdOptions,
  ) {
    super('ejabberd', 'xe-', options, { readyTimeoutMs: READY_TIMEOUT_MS, pollMs: POLL_MS });
    this.node = `xiot_${path.basename(this.dir).slice(3)}@localhost`;
    this.logFile = path.join(this.dir, 'logs', 'ejabberd.log');
    this.outFile = path.join(this.dir, 'console.log');
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

  /** First start: pick ports, write the configs, start; new ports if one was taken meanwhile. */
  async init(): Promise<void> {
    const { uid, gid } = ids(USER);
    for (const sub of ['db', 'logs']) await mkdir(path.join(this.dir, sub), { recursive: true });
    await writeFile(
      path.join(this.dir, 'inetrc'),
      '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n',
    );
    const certfiles = [...(this.options.certfiles ?? [])];
    const { tls } = this.options;
    if (tls) {
      // ejabberd runs as user ejabberd: a copy of certificate and key it can read, in its own dir.
      const pem = path.join(this.dir, 'localhost.pem');
      await writeFile(pem, `${await readFile(tls.cert, 'utf8')}\n${await readFile(tls.key, 'utf8')}`, {
        mode: 0o600,
      });
      chownSync(pem, uid, gid);
      certfiles.push(pem);
    }
    await this.startOnFreePorts(this.options, 1, async ([dist]) => {
      this.distPort = dist!;
      await writeFile(path.join(this.dir, 'ejabberd.yml'), renderConfig(this.ports, this.options, certfiles));
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
    });
  }

  async start(): Promise<void> {
    this.refuseIfStopped('; start a new one');
    if (this.child) return;
    const logStart = fileSize(this.logFile);
    const outStart = fileSize(this.outFile);
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
    const { child, exitInfo } = this.launch(
      this.outFile,
      (out) => {
        const c = spawn(
          '/bin/sh',
          ['-c', '(read line <&3; kill -KILL 0) & exec runuser -u "$0" -- "$@"', USER, ...ctl],
          { cwd: d, stdio: ['ignore', out, out, 'pipe'], detached: true },
        );
        (c.stdio[3] as Socket | null)?.unref();
        return c;
      },
      (gone) => (gone.stdio[3] as Socket | null)?.destroy(), // the watchdog ends whatever is left of the group
    );

    const since = () => `${readFrom(this.logFile, logStart)}${readFrom(this.outFile, outStart)}`;
    await this.poll(
      async () => {
        const log = since();
        if (PORT_BIND_FAILURE.test(log)) {
          throw new PortInUseError(
            `ejabberd could not open its ports (${this.c2sPort}/${this.httpPort}/${this.distPort}); log:\n${this.logTail()}`,
          );
        }
        if (this.child !== child) {
          throw new IotError(
            'IOT_ERR_XMPP',
            `ejabberd ${exitInfo()} before it started; log:\n${this.logTail()}`,
          );
        }
        // "is started" comes before the listeners accept: wait for both.
        return log.includes(STARTED) && (await this.listening());
      },
      () =>
        new IotError(
          'IOT_ERR_XMPP',
          `ejabberd did not start within ${READY_TIMEOUT_MS} ms; log:\n${this.logTail()}`,
        ),
    );
  }

  protected async killChild(): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined) return;
    const pid = child.pid;
    signalGroup(pid, 'SIGKILL');
    await this.exited;
    // The VM is a grandchild in the same group; wait until the whole group is gone.
    await this.poll(
      () => !groupAlive(pid),
      () => new IotError('IOT_ERR_XMPP', `ejabberd process group ${pid} survives SIGKILL`),
    );
  }

  /** SIGKILL (a graceful ejabberd stop takes 6–8 s and the data is thrown away anyway). */
  protected terminate(): Promise<void> {
    return this.kill();
  }

  /**
   * Mnesia writes its transaction log through disk_log, whose file has `delayed_write` (flushed within 2 s): a
   * SIGKILL loses the last two seconds (a PEP node, a subscription). Waiting that long first loses nothing, and
   * unlike a graceful stop (6–8 s, clients reconnecting to the dying server) the server goes at once.
   */
  override async shutdown(): Promise<void> {
    if (!this.child) return;
    await new Promise((r) => setTimeout(r, MNESIA_FLUSH_MS));
    await this.kill();
  }

  protected killChildNow(): void {
    if (this.child?.pid !== undefined) signalGroup(this.child.pid, 'SIGKILL');
  }

  async register(username: string, password: string): Promise<void> {
    this.refuseIfStopped();
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
