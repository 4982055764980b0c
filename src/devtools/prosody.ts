/**
 * A throwaway Prosody (0.12) for tests, the demo and benchmarks: a child process
 * (`prosody -F --config FILE`, never the system service) on free loopback ports, with its
 * config, data, pidfile and log in a short temp dir. Plain-text auth, no TLS, no XEP-0198.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { IotError, MissingDependencyError } from '../core/errors.js';
import { findExecutable } from './system-deps.js';

export interface ProsodyOptions {
  /** Accounts registered on `localhost` once the server listens. */
  accounts?: Array<{ username: string; password: string }>;
  /** Bare JIDs given admin rights (needed to create nodes on the pubsub component). */
  admins?: string[];
  /** Adds `Component "pubsub.localhost" "pubsub"`. */
  pubsubComponent?: boolean;
  /** External XEP-0114 components (e.g. a provisioning server), reached on `componentPort`. */
  components?: Array<{ name: string; secret: string }>;
  /** Keep Nagle's algorithm on Prosody's sockets (default false: `network_settings = { nagle = false }`). */
  nagle?: boolean;
  /** Minimum level written to the log file (default 'info'). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** XEP-0077 in-band registration open to anyone (`allow_registration = true`; default false). */
  allowRegistration?: boolean;
}

export interface ProsodyServer {
  domain: 'localhost';
  host: '127.0.0.1';
  c2sPort: number;
  /** HTTP port (mod_http + websocket at `/xmpp-websocket`). */
  httpPort: number;
  /** For @xmpp/client: `xmpp://127.0.0.1:PORT`. */
  service: string;
  /** Temp dir holding config, data, pidfile and log. */
  dir: string;
  /** Port for external components (XEP-0114); 0 when none are configured. */
  componentPort: number;
  /** `pubsub.localhost` when the pubsub component is enabled. */
  pubsubJid?: string;
  /** Registers an account on `localhost` with prosodyctl (works while the server runs). */
  register(username: string, password: string): Promise<void>;
  /** SIGTERM, SIGKILL after 3 s; removes the dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL; keeps dir and data; resolves once the process exited and the port is closed. */
  kill(): Promise<void>;
  /** (Re)starts with the same config, ports and data; resolves when the c2s port accepts connections. */
  start(): Promise<void>;
  readonly running: boolean;
  /** Contents of the log file (Prosody's log plus its stdout/stderr). */
  logs(): string;
}

const HOST = '127.0.0.1';
const DOMAIN = 'localhost';
const READY_TIMEOUT_MS = 10_000;
const POLL_MS = 25;
const TERM_GRACE_MS = 3_000;
const PORT_BIND_FAILURE = 'Failed to open server port';

/** Path of the prosody binary, or throws MissingDependencyError. */
export function findProsody(): string {
  const bin = findExecutable('prosody');
  if (!bin) throw new MissingDependencyError('Prosody', 'apt-get install -y prosody');
  return bin;
}

function findProsodyctl(prosodyBin: string): string {
  const sibling = path.join(path.dirname(prosodyBin), 'prosodyctl');
  return findExecutable('prosodyctl') ?? sibling;
}

/** Servers not stopped yet: killed and removed synchronously when Node exits. */
const live = new Set<Instance>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const server of live) server.killOnExit();
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Free ports on 127.0.0.1, found by binding port 0 (all held at once so they differ). */
async function freePorts(count: number): Promise<number[]> {
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
function canConnect(port: number): Promise<boolean> {
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

/** A Lua string literal (quotes, backslashes and control characters escaped as in Lua 5.4). */
function lua(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\' || ch === '"') out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f) out += `\\${code.toString().padStart(3, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function renderConfig(
  dir: string,
  c2sPort: number,
  httpPort: number,
  componentPort: number,
  options: ProsodyOptions,
): string {
  const admins = (options.admins ?? []).map(lua).join(', ');
  const lines = [
    '-- Generated by src/devtools/prosody.ts: a throwaway test server. Never use these settings in production.',
    'run_as_root = true',
    `data_path = ${lua(path.join(dir, 'data'))}`,
    `pidfile = ${lua(path.join(dir, 'prosody.pid'))}`,
    `certificates = ${lua(path.join(dir, 'certs'))}`,
    `log = { { levels = { min = ${lua(options.logLevel ?? 'info')} }, to = "file", filename = ${lua(path.join(dir, 'prosody.log'))} } }`,
    `interfaces = { ${lua(HOST)} }`,
    `http_interfaces = { ${lua(HOST)} }`,
    `c2s_ports = { ${c2sPort} }`,
    `http_ports = { ${httpPort} }`,
    's2s_ports = { }',
    'https_ports = { }',
    'c2s_direct_tls_ports = { }',
    // No smacks: XEP-0198 with @xmpp/client 0.14 is broken (see docs). No tls: there is no certificate.
    'modules_enabled = { "roster", "saslauth", "disco", "pep", "ping", "register", "presence", "version",',
    '  "time", "uptime", "private", "vcard", "http", "websocket" }',
    'modules_disabled = { "tls", "s2s", "c2s_direct_tls" }',
    'c2s_require_encryption = false',
    'allow_unencrypted_plain_auth = true',
    'consider_websocket_secure = true',
    'cross_domain_websocket = true',
    'authentication = "internal_hashed"',
    'storage = "internal"',
    'default_iteration_count = 16',
    `allow_registration = ${options.allowRegistration ? 'true' : 'false'}`,
    // mod_register_limits may throttle registrations per IP; tests register several in a row.
    ...(options.allowRegistration ? ['min_seconds_between_registrations = 0'] : []),
    `admins = { ${admins} }`,
  ];
  if (!options.nagle) lines.push('network_settings = { nagle = false }');
  lines.push(`VirtualHost ${lua(DOMAIN)}`);
  if (options.pubsubComponent) lines.push(`Component ${lua(`pubsub.${DOMAIN}`)} "pubsub"`);
  if (options.components?.length) {
    lines.splice(
      lines.indexOf(`VirtualHost ${lua(DOMAIN)}`),
      0,
      `component_ports = { ${componentPort} }`,
      `component_interface = ${lua(HOST)}`,
    );
    for (const c of options.components)
      lines.push(`Component ${lua(c.name)}`, `  component_secret = ${lua(c.secret)}`);
  }
  return `${lines.join('\n')}\n`;
}

function shortTempRoot(): string {
  // Prosody's admin socket lives in data_path and must stay under ~107 characters.
  const tmp = os.tmpdir();
  return tmp.length <= 40 ? tmp : '/tmp';
}

class PortInUseError extends IotError {
  constructor(message: string) {
    super('IOT_ERR_XMPP', message);
  }
}

class Instance implements ProsodyServer {
  readonly domain = DOMAIN;
  readonly host = HOST;
  readonly dir: string;
  readonly pubsubJid?: string;
  c2sPort = 0;
  httpPort = 0;
  componentPort = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private readonly configFile: string;
  private readonly logFile: string;

  constructor(
    private readonly prosodyBin: string,
    private readonly prosodyctlBin: string,
    private readonly options: ProsodyOptions,
  ) {
    this.dir = mkdtempSync(path.join(shortTempRoot(), 'xp-'));
    this.configFile = path.join(this.dir, 'prosody.cfg.lua');
    this.logFile = path.join(this.dir, 'prosody.log');
    if (options.pubsubComponent) this.pubsubJid = `pubsub.${DOMAIN}`;
  }

  get service(): string {
    return `xmpp://${HOST}:${this.c2sPort}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  logs(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  private logTail(lines = 25): string {
    return this.logs().trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** First start: pick ports, write the config, start; new ports if one was taken meanwhile. */
  async init(): Promise<void> {
    await mkdir(path.join(this.dir, 'data'), { recursive: true });
    await mkdir(path.join(this.dir, 'certs'), { recursive: true });
    for (let attempt = 1; ; attempt++) {
      const [c2s, http, component] = await freePorts(3);
      this.c2sPort = c2s!;
      this.httpPort = http!;
      this.componentPort = this.options.components?.length ? component! : 0;
      await writeFile(
        this.configFile,
        renderConfig(this.dir, this.c2sPort, this.httpPort, this.componentPort, this.options),
      );
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
      throw new IotError('IOT_ERR_STOPPED', `Prosody in ${this.dir} was stopped; start a new one`);
    if (this.child) return;
    const out = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.prosodyBin, ['-F', '--config', this.configFile], {
        cwd: this.dir,
        stdio: ['ignore', out, out],
      });
    } finally {
      closeSync(out);
    }
    this.child = child;
    live.add(this);
    installExitHook();
    let exitInfo = '';
    this.exited = new Promise<void>((resolve) => {
      const onGone = (why: string) => {
        exitInfo = why;
        if (this.child === child) this.child = undefined;
        resolve();
      };
      child.once('exit', (code, signal) => onGone(`exited with ${signal ?? `code ${code}`}`));
      child.once('error', (err) => onGone(`failed to start: ${err.message}`));
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (this.child !== child) {
        throw new IotError('IOT_ERR_XMPP', `Prosody ${exitInfo} before listening; log:\n${this.logTail()}`);
      }
      const log = this.logs();
      if (log.includes(PORT_BIND_FAILURE)) {
        throw new PortInUseError(
          `Prosody could not open its ports (${this.c2sPort}/${this.httpPort}); log:\n${this.logTail()}`,
        );
      }
      if (await canConnect(this.c2sPort)) return;
      if (Date.now() > deadline) {
        throw new IotError(
          'IOT_ERR_XMPP',
          `Prosody did not accept connections on ${HOST}:${this.c2sPort} within ${READY_TIMEOUT_MS} ms; log:\n${this.logTail()}`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child) {
      child.kill('SIGKILL');
      await this.exited;
    }
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (this.c2sPort && (await canConnect(this.c2sPort))) {
      if (Date.now() > deadline)
        throw new IotError('IOT_ERR_XMPP', `port ${this.c2sPort} still accepts after kill`);
      await sleep(POLL_MS);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const child = this.child;
      if (child) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), TERM_GRACE_MS);
        await this.exited;
        clearTimeout(timer);
      }
      live.delete(this);
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }

  async register(username: string, password: string): Promise<void> {
    if (this.stopping) throw new IotError('IOT_ERR_STOPPED', `Prosody in ${this.dir} was stopped`);
    await new Promise<void>((resolve, reject) => {
      execFile(
        this.prosodyctlBin,
        ['--config', this.configFile, 'register', username, DOMAIN, password],
        { timeout: 10_000 },
        (err, stdout, stderr) => {
          if (err) {
            const output = `${stdout}${stderr}`.trim();
            reject(
              new IotError(
                'IOT_ERR_XMPP',
                `prosodyctl register ${username}@${DOMAIN} failed: ${output || err.message}`,
              ),
            );
          } else {
            resolve();
          }
        },
      );
    });
  }

  /** Synchronous last-resort cleanup from process.on('exit'). */
  killOnExit(): void {
    this.child?.kill('SIGKILL');
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

/** Starts a private Prosody on free loopback ports and registers `options.accounts`. */
export async function startProsody(options: ProsodyOptions = {}): Promise<ProsodyServer> {
  const bin = findProsody();
  const server = new Instance(bin, findProsodyctl(bin), options);
  try {
    await server.init();
    for (const account of options.accounts ?? []) await server.register(account.username, account.password);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
