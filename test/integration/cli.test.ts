import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { startClient, tempDir, waitFor } from '../helpers/agent.js';
import { requireProsody } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

function run(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const dir = tempDir();
afterAll(() => dir.remove());

function writeConfig(name: string, text: string): string {
  const path = `${dir.path}/${name}`;
  writeFileSync(path, text);
  return path;
}

const config = (service: string, interval = '10s') => `
xmpp:
  service: ${service}
  domain: localhost
  username: kitchen
  password: \${KITCHEN_PASSWORD}
  resource: agent
owners: [alice@localhost]
store: ./kitchen.db
devices:
  - id: host
    type: system
    interval: ${interval}
`;

describe('xiot check', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  });

  it('prints what would run and exits 0 for a valid config, without the password', async () => {
    const path = writeConfig('ok.yaml', config('xmpp://127.0.0.1:5222'));
    const r = await run(['check', '--config', path], { KITCHEN_PASSWORD: 'hunter2-very-secret' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('kitchen@localhost/agent');
    expect(r.stdout).toMatch(/host \(system\) every 10000 ms/);
    expect(r.stdout + r.stderr).not.toContain('hunter2-very-secret');
  });

  it('names the failing key path and exits 1 for a broken config', async () => {
    const path = writeConfig('broken.yaml', config('xmpp://127.0.0.1:5222', 'often'));
    const r = await run(['check', '--config', path], { KITCHEN_PASSWORD: 'x' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('devices[0].interval: expected a duration like "30s" or a cron expression');
  });

  it('prints help with the agent and the operator commands', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('xiot agent --config FILE');
    expect(r.stdout).toContain('xiot read JID...');
    expect(r.stdout).not.toMatch(/\$\{OPERATOR/);
  });

  it('exits 2 with a one-line message on bad usage', async () => {
    const r = await run(['check', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await run(['frobnicate'])).code).toBe(2);
  });
});

describe.each(servers())('xiot agent (%s)', (kind) => {
  let server: XmppServer;
  let agent: ChildProcess | undefined;
  beforeAll(async () => {
    server = await startServer(kind, {
      accounts: [
        { username: 'kitchen', password: 'hunter2-very-secret' },
        { username: 'alice', password: 'alice-secret' },
      ],
    });
  });
  afterAll(async () => {
    agent?.kill('SIGKILL');
    await server?.stop();
  });

  it('runs, answers an owner, stops on SIGTERM, and never writes the password to its logs, even at trace', async () => {
    const path = writeConfig('agent.yaml', config(server.service, '500ms'));
    const child = spawn(process.execPath, [CLI, 'agent', '--config', path, '--log-level', 'trace'], {
      env: { ...process.env, KITCHEN_PASSWORD: 'hunter2-very-secret' },
    });
    agent = child;
    let logs = '';
    child.stdout.on('data', (d) => (logs += d));
    child.stderr.on('data', (d) => (logs += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await waitFor('the agent online', () => logs.includes('"msg":"online"'));
    const owner = await startClient(server, 'alice', 'alice-secret');
    const result = await owner.sensors.readout('kitchen@localhost/agent', { fields: ['uptime'] });
    expect(result.fields.map((f) => f.name)).toEqual(['uptime']);
    await owner.stop();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(logs).toContain('agent stopped');
    expect(logs).toContain('<req'); // trace really logged stanzas, so the check below means something
    for (const secret of [
      'hunter2-very-secret',
      Buffer.from('hunter2-very-secret').toString('base64'),
      Buffer.from('\0kitchen\0hunter2-very-secret').toString('base64'),
    ]) {
      expect(logs).not.toContain(secret);
    }
  });
});

// Prosody only: the demo itself starts a Prosody (src/devtools/demo.ts); there is no server to choose.
describe.skipIf(!requireProsody())('xiot demo', () => {
  it('starts Prosody, an agent process and an owner, shows readings and a readout, then cleans up', async () => {
    const r = await run(['demo', '--for', '6s']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/host {2}load1=/); // a PEP notification line
    expect(r.stdout).toContain('XEP-0323 readout');
    expect(r.stdout).toMatch(/stopped; [1-9]\d* readings received; temporary files removed/);
  }, 30_000);
});
