import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { renderUnit, runService } from '../../src/cli/service.js';
import { tempDir } from '../helpers/agent.js';
import { requireSystemdAnalyze } from '../helpers/requirements.js';

const dir = tempDir('xiot-service-');
afterAll(() => dir.remove());

function writeAgent(name: string): string {
  const path = join(dir.path, name);
  writeFileSync(join(dir.path, 'a.secrets'), 'A_PASSWORD=x\n', { mode: 0o600 });
  writeFileSync(
    path,
    'xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: "${A_PASSWORD}" }\nsecretsFile: ./a.secrets\nstore: ./state/a.db\ndevices: [{ id: host, type: system }]\n',
  );
  return path;
}

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d) => (text += d));
  return { stream, text: () => text };
}

/** `systemd-analyze verify` output, empty when the unit is clean. */
function verify(unitFile: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', ['verify', unitFile], (_err, stdout, stderr) =>
      resolve(
        `${stdout}${stderr}`
          .split('\n')
          // The test machine is a container: systemd itself is not running.
          .filter((l) => l && !/System has not been booted with systemd|Failed to connect to bus/.test(l))
          .join('\n'),
      ),
    );
  });
}

describe('xiot service', () => {
  it('prints a hardened unit running this installation as a dedicated user', async () => {
    const out = capture();
    const config = writeAgent('a.yaml');
    expect(
      await runService(['print', '--config', config], { stdout: out.stream, stderr: out.stream, env: {} }),
    ).toBe(0);
    const unit = out.text();
    for (const line of [
      'User=xiot',
      'SupplementaryGroups=gpio dialout',
      'Restart=on-failure',
      'ProtectSystem=strict',
      `ReadWritePaths=${join(dir.path, 'state')}`,
      'NoNewPrivileges=yes',
      'ExecReload=/bin/kill -HUP $MAINPID',
      `ExecStart=${process.execPath} `,
    ])
      expect(unit).toContain(line);
    expect(unit).toMatch(new RegExp(`ExecStart=\\S+ \\S+/cli\\.js agent --config ${config}\n`));
    expect(unit).not.toContain('A_PASSWORD');
  });

  it('escapes paths with spaces', () => {
    const unit = renderUnit({
      configPath: '/etc/my agent.yaml',
      storeDir: '/var/lib/my agent',
      user: 'xiot',
      node: '/usr/bin/node',
      cli: '/x/cli.js',
    });
    expect(unit).toContain('ExecStart=/usr/bin/node /x/cli.js agent --config "/etc/my agent.yaml"\n');
    expect(unit).toContain('ReadWritePaths=/var/lib/my\\x20agent\n');
  });

  it.skipIf(!requireSystemdAnalyze())('writes a unit systemd-analyze verify accepts', async () => {
    const out = capture();
    const unitDir = join(dir.path, 'units');
    mkdirSync(unitDir);
    const commands: string[][] = [];
    await runService(
      [
        'install',
        '--config',
        writeAgent('b.yaml'),
        '--unit-dir',
        unitDir,
        '--user',
        'root',
        '--name',
        'xiot-test',
      ],
      {
        stdout: out.stream,
        stderr: out.stream,
        env: {},
        exec: (file, args) => void commands.push([file, ...args]),
      },
    );
    expect(commands).toEqual([
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'xiot-test.service'],
    ]);
    const unitFile = join(unitDir, 'xiot-test.service');
    expect(readFileSync(unitFile, 'utf8')).toContain('User=root');
    expect(await verify(unitFile)).toBe('');
    await runService(['uninstall', '--unit-dir', unitDir, '--name', 'xiot-test', '--no-start'], {
      stdout: out.stream,
      stderr: out.stream,
      env: {},
    });
    expect(existsSync(unitFile)).toBe(false);
  });
});
