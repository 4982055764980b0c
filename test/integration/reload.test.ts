import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import { queryControlSocket } from '../../src/agent/control-socket.js';
import { tempDir } from '../helpers/agent.js';
import { requireProsody } from '../helpers/requirements.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

function status(config: string) {
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    execFile(process.execPath, [CLI, 'status', '--config', config, '--json'], (err, stdout) =>
      err ? reject(err) : resolve(JSON.parse(stdout) as Record<string, unknown>),
    );
  });
}

type Live = { devices: Record<string, { reads: number }> };

describe.skipIf(!requireProsody())('SIGHUP reloads the config (real Prosody)', () => {
  const dir = tempDir('xiot-reload-');
  const config = join(dir.path, 'agent.yaml');
  let server: ProsodyServer;
  let agent: ChildProcess;
  let log = '';
  const head = () => `xmpp: { service: "${server.service}", domain: localhost, username: agent, password: pw }
owners: [alice@localhost]
store: ./agent.db
devices:
`;
  const waitForLog = (pattern: RegExp, from: number) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${log.slice(from)}`)), 15_000);
      const check = () => {
        const m = pattern.exec(log.slice(from));
        if (m) {
          clearTimeout(timer);
          agent.stderr!.off('data', check);
          resolve(m[0]);
        }
      };
      agent.stderr!.on('data', check);
      check();
    });

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    server = await startProsody({ accounts: [{ username: 'agent', password: 'pw' }] });
    writeFileSync(
      config,
      `${head()}  - { id: host, type: system, interval: 200ms }\n  - { id: old, type: system, interval: 200ms }\n`,
    );
    agent = spawn(process.execPath, [CLI, 'agent', '--config', config, '--log-format', 'json'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    agent.stderr!.on('data', (d) => (log += d));
    await waitForLog(/"msg":"online"/, 0);
  }, 30_000);
  afterAll(async () => {
    agent?.kill('SIGKILL');
    await server?.stop();
    dir.remove();
  });

  it('adds and removes devices, leaves the unchanged one running, and keeps the connection', async () => {
    await new Promise((r) => setTimeout(r, 500));
    const before = ((await status(config)).live as Live).devices;
    expect(Object.keys(before)).toEqual(['host', 'old']);
    writeFileSync(
      config,
      `${head()}  - { id: host, type: system, interval: 200ms }\n  - { id: new, type: system, interval: 200ms }\n`,
    );
    const from = log.length;
    agent.kill('SIGHUP');
    const line = await waitForLog(/\{[^\n]*"msg":"devices reloaded"\}/, from);
    expect(JSON.parse(line)).toMatchObject({ added: ['new'], removed: ['old'], restarted: [] });
    await new Promise((r) => setTimeout(r, 300));
    const after = ((await status(config)).live as Live).devices;
    expect(Object.keys(after)).toEqual(['host', 'new']);
    expect(after.host!.reads).toBeGreaterThan(before.host!.reads); // the same runner, still counting
    expect(log.match(/"msg":"online"/g)).toHaveLength(1);
    expect(log).not.toContain('disconnected from the server');
  });

  it('restarts a changed device alone', async () => {
    writeFileSync(
      config,
      `${head()}  - { id: host, type: system, interval: 200ms }\n  - { id: new, type: system, interval: 300ms }\n`,
    );
    const from = log.length;
    agent.kill('SIGHUP');
    const line = await waitForLog(/\{[^\n]*"msg":"devices reloaded"\}/, from);
    expect(JSON.parse(line)).toMatchObject({ added: [], removed: [], restarted: ['new'] });
  });

  it('restarts the whole agent, connection included, when the account section changes', async () => {
    writeFileSync(
      config,
      head().replace('password: pw }', 'password: pw, resource: second }') +
        '  - { id: host, type: system, interval: 200ms }\n  - { id: new, type: system, interval: 300ms }\n',
    );
    const from = log.length;
    agent.kill('SIGHUP');
    await waitForLog(/"changed":\["xmpp"\][^\n]*"msg":"reload: restarting the agent/, from);
    await waitForLog(/"jid":"agent@localhost\/second"[^\n]*"msg":"online"/, from);
    const live = (await status(config)).live as Live & { jid: string };
    expect(live.jid).toBe('agent@localhost/second');
    expect(Object.keys(live.devices)).toEqual(['host', 'new']);
  });

  it('refuses an invalid config with its errors and keeps the running one', async () => {
    writeFileSync(config, `${head()}  - { id: host, type: system, intervall: 200ms }\n`);
    const from = log.length;
    agent.kill('SIGHUP');
    const line = await waitForLog(/\{[^\n]*"msg":"reload refused[^\n]*\}/, from);
    expect(JSON.parse(line)).toMatchObject({
      level: 50,
      issues: ['devices[0].intervall: unknown key (did you mean "interval"?)'],
      msg: 'reload refused: the new configuration is invalid; the running one is kept',
    });
    // `xiot status` would report the file's errors now: ask the agent's socket itself.
    const live = (await queryControlSocket(join(dir.path, 'agent.db.sock'))) as unknown as Live & {
      online: boolean;
    };
    expect(Object.keys(live.devices)).toEqual(['host', 'new']);
    expect(live.online).toBe(true);
    expect(log.match(/"msg":"online"/g)).toHaveLength(2); // the first login and the restart above
  });
});
