import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import { tempDir } from '../helpers/agent.js';
import { requireProsody } from '../helpers/requirements.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

function xiot(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    // No GARDEN_PASSWORD: status and history read local state only.
    const { GARDEN_PASSWORD: _omit, ...base } = process.env;
    execFile(process.execPath, [CLI, ...args], { env: { ...base, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(!requireProsody())('xiot status and xiot history (agent running, then stopped)', () => {
  const dir = tempDir('xiot-status-');
  const config = join(dir.path, 'garden.yaml');
  const store = join(dir.path, 'garden.db');
  let server: ProsodyServer;
  let agent: ChildProcess | undefined;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    server = await startProsody({ accounts: [{ username: 'garden', password: 'pw-garden' }] });
    writeFileSync(
      config,
      `xmpp: { service: "${server.service}", domain: localhost, username: garden, password: "\${GARDEN_PASSWORD}", resource: agent }
owners: [alice@localhost]
store: ./garden.db
devices:
  - { id: host, type: system, interval: 300ms }
  - { id: air, type: pms5003, port: ${join(dir.path, 'no-such-tty')} }
`,
    );
    agent = spawn(process.execPath, [CLI, 'agent', '--config', config, '--log-format', 'json'], {
      env: { ...process.env, GARDEN_PASSWORD: 'pw-garden' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent not online:\n${log}`)), 20_000);
      agent!.stderr!.on('data', (d) => {
        log += d;
        if (/"msg":"online"/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await new Promise((r) => setTimeout(r, 800)); // a few readings
  }, 40_000);
  afterAll(async () => {
    agent?.kill('SIGKILL');
    await server?.stop();
    dir.remove();
  });

  it('shows the running agent: connection, availability, last errors, last readings, outbox', async () => {
    expect(statSync(`${store}.sock`).mode & 0o777).toBe(0o600);
    const r = await xiot(['status', '--config', config]);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^agent running \\(pid ${agent!.pid}\\), xmpp-iot \\S+, up \\d+ s, online as garden@localhost/agent$`,
      ),
    );
    expect(lines[1]).toMatch(/^outbox: \d+ reading\(s\) waiting, \d+ published since start$/);
    expect(lines[2]).toMatch(/^host \(system\): available, \d+ reads, 0 failures$/);
    expect(lines[3]).toMatch(/^ {2}last reading \S+Z \(\d+ s ago\): load1=[\d.]+, /);
    expect(lines[4]).toMatch(
      /^air \(pms5003\): UNAVAILABLE, 0 reads, \d+ failures; last error \d+ s ago: cannot open \S+no-such-tty: No such file or directory$/,
    );
    expect(lines[5]).toBe('  no reading stored yet');
  });

  it('prints the history of a device as CSV while the agent writes', async () => {
    const r = await xiot(['history', 'host', '--config', config, '--csv', '--since', '10m']);
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^time,load1,load5,load15,memTotal \(MiB\),/);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows[1]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z,[\d.]+,/);
  });

  it('after the agent stopped, reads the same from the store and says the agent is not running', async () => {
    agent!.kill('SIGTERM');
    expect(await new Promise((resolve) => agent!.on('exit', resolve))).toBe(0);
    agent = undefined;
    expect(existsSync(`${store}.sock`)).toBe(false);
    const r = await xiot(['status', '--config', config]);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`agent not running (nothing answers on ${store}.sock); from its store:`);
    expect(lines[1]).toMatch(/^outbox: \d+ reading\(s\) waiting to be published$/);
    expect(lines[2]).toBe('host (system): stopped');
    expect(lines[3]).toMatch(/^ {2}last reading \S+Z \(\d+ s ago\): load1=/);
    const h = await xiot(['history', 'host', '--config', config]);
    expect(h.stdout.split('\n')[0]).toMatch(/^time {22}load1 +load5 +load15 +memTotal \[MiB\]/);
    const unknown = await xiot(['history', 'nope', '--config', config]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('xiot: history: no device "nope" (devices: host, air)\n');
  });
});
