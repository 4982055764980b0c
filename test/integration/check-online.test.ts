import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import { tempDir } from '../helpers/agent.js';
import { requireProsody } from '../helpers/requirements.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

function check(config: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, [CLI, 'check', '--config', config, '--online'], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe.skipIf(!requireProsody())('xiot check --online (real Prosody)', () => {
  const dir = tempDir('xiot-online-');
  let server: ProsodyServer;
  const write = (name: string, password: string, service?: string) => {
    const path = join(dir.path, name);
    writeFileSync(
      path,
      `xmpp: { service: "${service ?? server.service}", domain: localhost, username: agent, password: ${password} }\nowners: [alice@localhost]\nstore: ./a.db\ndevices: [{ id: host, type: system }]\n`,
    );
    return path;
  };
  beforeAll(async () => {
    server = await startProsody({ accounts: [{ username: 'agent', password: 'pw' }] });
  });
  afterAll(async () => {
    await server?.stop();
    dir.remove();
  });

  it('logs in and reports security, PEP and an owner who has not subscribed yet', async () => {
    const r = await check(write('ok.yaml', 'pw'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('online check:\n')[1]).toMatch(
      new RegExp(
        [
          '^ {2}login {5}ok: agent@localhost logged in \\(agent@localhost/check-\\d+\\)',
          '  transport TCP \\(xmpp://\\), no STARTTLS: xmpp://127\\.0\\.0\\.1:\\d+',
          '  security  NOT encrypted \\(allowed by xmpp\\.tls: optional\\)',
          '  pep       ok: the account has a PEP service',
          '  owner     alice@localhost: NOT subscribed \\(none\\): the agent asks at start; alice@localhost must accept it to receive readings\n$',
        ].join('\n'),
      ),
    );
  });

  it('fails with the reason when the password is wrong', async () => {
    const bad = await check(write('bad.yaml', 'wrong'));
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(
      '  login     FAILED: authentication failed for agent@localhost: check xmpp.username and xmpp.password\n',
    );
  });
});
