/**
 * The connection against real servers (Prosody and ejabberd): TLS policy by name, reconnect after a server
 * restart with default settings, a wrong password at first start, and `conflict`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import dns from 'node:dns/promises';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import type { Logger } from '../../src/core/logger.js';
import { startEjabberd } from '../../src/devtools/ejabberd.js';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { findExecutable } from '../../src/devtools/system-deps.js';
import { createTransport, isLoopbackHost, type Transport } from '../../src/xmpp/transport.js';
import { tempDir, waitFor } from '../helpers/agent.js';
import { selfSignedLocalhost } from '../helpers/certificates.js';
import { type Gate, startGate } from '../helpers/gate.js';
import { requireEjabberd } from '../helpers/requirements.js';
import { type ScriptedServer, startScriptedServer } from '../helpers/scripted-server.js';
import { recordingLogger, warnings } from '../helpers/transport.js';
import { servers } from '../helpers/servers.js';

/** The agent's `xmpp:` section as a user writes it, parsed by the real config code (defaults included). */
function xmppConfig(yaml: string) {
  return parseAgentConfig(`xmpp:\n${yaml}\ndevices:\n  - { id: host, type: system }\n`, {
    definitions: builtinDevices,
  }).xmpp;
}

/** The `xmpp:` section of user kitchen on `service`, with more settings (YAML lines) after the account. */
function kitchenConfig(service: string, ...settings: string[]) {
  const lines = [`service: ${service}`, 'domain: localhost', 'username: kitchen', 'password: kitchen-secret'];
  return xmppConfig([...lines, ...settings].map((l) => `  ${l}`).join('\n'));
}

/**
 * A name that is not loopback by name but reaches this host: the machine's own host name (Debian's
 * /etc/hosts maps it to 127.0.0.1 or 127.0.1.1). A forwarder listens on the address it resolves to and
 * passes bytes to the server on 127.0.0.1, recording what the client sent (a gate, test/helpers/gate.ts). No
 * system file is edited. Without such a name, why there is none.
 */
async function loopbackAlias(port: number): Promise<(Gate & { name: string }) | { reason: string }> {
  const name = os.hostname();
  if (!name || isLoopbackHost(name)) return { reason: `host name "${name}" is loopback by name` };
  const address = await dns
    .lookup(name, { family: 4 })
    .then((a) => a.address)
    .catch(() => '');
  if (!address) return { reason: `host name "${name}" does not resolve` };
  const gate = await startGate(port, address).catch(() => undefined);
  if (!gate) return { reason: `cannot listen on ${address} (what "${name}" resolves to)` };
  return Object.assign(gate, { name });
}

/**
 * Runs the built transport (`npm test` builds first) in a child process that trusts `caFile`
 * (NODE_EXTRA_CA_CERTS is read at process start); prints ONLINE, or TIMEOUT and the last failure.
 */
function loginInChild(options: Record<string, unknown>, caFile: string, waitMs = 15_000): Promise<string> {
  const script = `
    import { createTransport } from ${JSON.stringify(BUILT)};
    import { silentLogger } from ${JSON.stringify(BUILT.replace('xmpp/transport.js', 'core/logger.js'))};
    const t = createTransport(${JSON.stringify(options)}, silentLogger());
    const timer = setTimeout(() => { console.log('TIMEOUT', t.lastFailure); process.exit(1); }, ${waitMs});
    await t.start();
    console.log(t.online ? 'ONLINE' : 'OFFLINE');
    clearTimeout(timer);
    await t.stop();
  `;
  return new Promise<string>((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile },
    });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('close', () => resolve(text));
  });
}

const BUILT = fileURLToPath(new URL('../../dist/src/xmpp/transport.js', import.meta.url));
const transports: Transport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.stop()));
});

/** A transport that the afterEach stops. */
function transportFor(config: ReturnType<typeof xmppConfig>, log: Logger = recordingLogger()): Transport {
  const t = createTransport(config, log);
  transports.push(t);
  return t;
}

describe.each(servers())('connection to %s', (kind) => {
  let server: XmppServer;
  afterAll(async () => {
    await server?.stop();
  });

  it('starts', async () => {
    server = await startServer(kind, {
      accounts: [
        { username: 'kitchen', password: 'kitchen-secret' },
        { username: 'hall', password: 'hall-secret' },
      ],
    });
  }, 60_000);

  it('refuses to log in by default to a server without TLS addressed by a non-loopback name, and says why', async (ctx) => {
    const alias = await loopbackAlias(server.c2sPort);
    if (!('name' in alias)) {
      ctx.skip(alias.reason);
      return;
    }
    try {
      const log = recordingLogger();
      const config = kitchenConfig(
        `xmpp://${alias.name}:${alias.port}`,
        'reconnect: { min: 200ms, max: 1s }',
      );
      expect(config.tls).toBe('required');
      const t = transportFor(config, log);
      void t.start();
      await waitFor('two refusals logged', () => warnings(log, /xmpp.tls/).length >= 2, 10_000);
      const reason = String(log.lines.find((l) => /xmpp.tls/.test(String(l.fields.reason)))!.fields.reason);
      expect(reason).toContain(`${alias.name} offers no TLS (STARTTLS) and xmpp.tls is "required"`);
      expect(t.online).toBe(false);
      expect(alias.fromClient()).toContain('<stream:stream');
      expect(alias.fromClient()).not.toMatch(/<auth|<authenticate/); // no SASL at all
      await t.stop();

      // Written explicitly, `optional` applies off loopback too.
      const optional = transportFor(kitchenConfig(`xmpp://${alias.name}:${alias.port}`, 'tls: optional'));
      await optional.start();
      expect(optional.online).toBe(true);
    } finally {
      await alias.close();
    }
  });

  it('refuses ws:// to a non-loopback name by default, and logs in with tls: optional', async (ctx) => {
    const alias = await loopbackAlias(server.httpPort);
    if (!('name' in alias)) {
      ctx.skip(alias.reason);
      return;
    }
    try {
      const service = `ws://${alias.name}:${alias.port}/xmpp-websocket`;
      const log = recordingLogger();
      const config = kitchenConfig(service, 'reconnect: { min: 200ms, max: 1s }');
      expect(config.tls).toBe('required');
      const t = transportFor(config, log);
      void t.start();
      const refusals = () => warnings(log, /xmpp.tls/);
      await waitFor('two refusals logged', () => refusals().length >= 2, 15_000);
      expect(refusals()[0]!.fields.reason).toBe(
        `${alias.name}: ws:// is not encrypted and xmpp.tls is "required": not logging in over an unencrypted ` +
          'stream (use wss://, or set xmpp.tls: optional)',
      );
      // Client frames are masked (RFC 6455), so the bytes cannot show the absence of SASL; the upgrade can.
      expect(alias.fromClient()).toMatch(/^GET \/xmpp-websocket HTTP\/1.1\r\n/);
      await t.stop();

      const optional = transportFor(kitchenConfig(service, 'tls: optional'));
      await optional.start();
      expect(optional.connection).toMatchObject({ transport: 'websocket', encrypted: false });
    } finally {
      await alias.close();
    }
  });

  it('fails the first start on a wrong password with a clear error', async () => {
    const t = transportFor(
      xmppConfig(`
  service: ${server.service}
  domain: localhost
  username: kitchen
  password: wrong`),
    );
    await expect(t.start()).rejects.toThrow(
      /authentication failed for kitchen@localhost: check xmpp.username/,
    );
  });

  it('is online again within 10 s of the server accepting connections after a restart (default settings)', async () => {
    const log = recordingLogger();
    const t = transportFor(kitchenConfig(server.service), log);
    await t.start();
    await server.kill();
    await new Promise((r) => setTimeout(r, 3000));
    expect(t.online).toBe(false);
    await server.start();
    const upAt = Date.now();
    await waitFor('online again', () => t.online, 12_000);
    const after = Date.now() - upAt;
    console.info(`${kind}: online ${after} ms after the server accepted connections again`);
    expect(after).toBeLessThan(10_000);
    // One schedule per failure: attempts numbered 1, 2, 3 … with no duplicates.
    const attempts = log.lines.filter((l) => /cannot connect/.test(l.msg)).map((l) => l.fields.attempt);
    expect(attempts).toEqual(attempts.map((_, i) => i + 1));
  }, 60_000);

  it('names a conflict on its resource and backs off instead of fighting', async () => {
    const yaml = (username: string) => `
  service: ${server.service}
  domain: localhost
  username: ${username}
  password: hall-secret
  resource: agent
  reconnect: { min: 200ms, max: 1s }`;
    const firstLog = recordingLogger();
    const first = transportFor(xmppConfig(yaml('hall')), firstLog);
    await first.start();
    const second = transportFor(xmppConfig(yaml('hall')));
    await second.start();
    const line = await waitFor(
      'the conflict logged',
      () => firstLog.lines.find((l) => l.level === 'warn' && /conflict/.test(String(l.fields.reason))),
      10_000,
    );
    expect(line.fields.reason).toBe('another connection uses resource agent: conflict');
    // 60 × reconnect.min here (12 s, 30–60 s by default), with jitter at least half: no fight for 5 s.
    expect(line.fields.inMs).toBeGreaterThanOrEqual(6000);
    await new Promise((r) => setTimeout(r, 5000));
    expect(first.online).toBe(false);
    expect(second.online).toBe(true);
  }, 30_000);
});

describe.skipIf(!requireEjabberd() || !findExecutable('openssl'))(
  'TLS against ejabberd with STARTTLS',
  () => {
    const dir = tempDir();
    let server: XmppServer;
    let caFile: string;
    afterAll(async () => {
      await server?.stop();
      dir.remove();
    });

    it('starts', async () => {
      const { key, cert } = selfSignedLocalhost(dir.path);
      const pem = path.join(dir.path, 'server.pem');
      writeFileSync(pem, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
      chmodSync(pem, 0o644); // read by user ejabberd; a throwaway test key
      chmodSync(dir.path, 0o755);
      caFile = cert;
      server = await startEjabberd({
        accounts: [{ username: 'kitchen', password: 'kitchen-secret' }],
        certfiles: [pem],
      });
    }, 60_000);

    it('verifies the certificate: an untrusted one is refused, logged with its reason, and retried', async () => {
      const log = recordingLogger();
      const t = transportFor(
        kitchenConfig(server.service, 'tls: required', 'reconnect: { min: 200ms, max: 1s }'),
        log,
      );
      void t.start();
      await waitFor('two TLS refusals logged', () => warnings(log, /TLS handshake/).length >= 2, 15_000);
      expect(
        String(log.lines.find((l) => /TLS handshake/.test(String(l.fields.reason)))!.fields.reason),
      ).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
      expect(t.online).toBe(false);
    }, 30_000);

    it('with tls: off, logs in without STARTTLS even though it is offered', async () => {
      const t = transportFor(kitchenConfig(server.service, 'tls: off'));
      await t.start();
      expect(t.online).toBe(true);
    });

    it('logs in over STARTTLS with tls: required when the certificate is trusted for the XMPP domain', async (ctx) => {
      // NODE_EXTRA_CA_CERTS is read at process start: a child process with the test CA trusted.
      // The built transport (`npm test` builds first), as the CLI runs it.
      if (!existsSync(BUILT)) {
        ctx.skip('dist/ is missing: run npm run build');
        return;
      }
      const out = await loginInChild(
        {
          service: server.service,
          domain: 'localhost',
          username: 'kitchen',
          password: 'kitchen-secret',
          tls: 'required',
        },
        caFile,
      );
      expect(out).toContain('ONLINE');
    }, 30_000);
  },
);

describe.skipIf(!findExecutable('openssl'))('TLS: xmpps://', () => {
  const dir = tempDir();
  let scripted: ScriptedServer | undefined;
  let terminator: tls.Server | undefined;
  afterAll(async () => {
    await scripted?.close();
    await new Promise<void>((resolve) => (terminator ? terminator.close(() => resolve()) : resolve()));
    dir.remove();
  });

  it('verifies the certificate against the XMPP domain, not the address connected to', async (ctx) => {
    if (!existsSync(BUILT)) {
      ctx.skip('dist/ is missing: run npm run build');
      return;
    }
    const { key, cert } = selfSignedLocalhost(dir.path);
    scripted = await startScriptedServer({});
    const upstream = scripted.port;
    // Direct TLS in front of the scripted server; its certificate names `localhost` only, not 127.0.0.1.
    terminator = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (c) => {
      const up = net.connect(upstream, '127.0.0.1');
      c.on('error', () => undefined);
      up.on('error', () => undefined);
      c.pipe(up);
      up.pipe(c);
    });
    await new Promise<void>((resolve) => terminator!.listen(0, '127.0.0.1', resolve));
    const service = `xmpps://127.0.0.1:${(terminator.address() as net.AddressInfo).port}`;
    const ok = await loginInChild(
      { service, domain: 'localhost', username: 'a', password: 'b', tls: 'required' },
      cert,
    );
    expect(ok).toContain('ONLINE');
    // The same certificate does not do for another domain.
    const wrong = await loginInChild(
      { service, domain: 'example.org', username: 'a', password: 'b', tls: 'required' },
      cert,
      3000,
    );
    expect(wrong).toMatch(/TIMEOUT TLS handshake .*ALTNAME/);
  }, 40_000);
});
