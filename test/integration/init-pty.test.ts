import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/agent.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const DRIVER = fileURLToPath(new URL('../helpers/pty-drive.py', import.meta.url));
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));

describe.skipIf(!PYTHON)('xiot init in a real terminal (a pseudo-terminal driven by python pty)', () => {
  const dir = tempDir('xiot-pty-');
  afterAll(() => dir.remove());

  it('asks with defaults, re-asks a bad answer, hides the password, and writes a config check accepts', async () => {
    const config = join(dir.path, 'garden.yaml');
    const script = [
      ['XMPP server domain: ', 'not a domain'],
      ['XMPP server domain: ', 'example.org'],
      ['Server address [xmpp://example.org:5222]: ', ''],
      ["The agent's username [", 'garden'],
      ['Create garden@example.org by in-band registration? (y/n) [n]: ', ''],
      ['Password of garden@example.org: ', 'typed-secret-9'],
      ['Owners (bare JIDs, comma-separated): ', 'alice@example.org'],
    ];
    const result = await new Promise<{ out: string; code: number | null; waiting?: string }>(
      (resolve, reject) =>
        execFile(
          PYTHON!,
          [
            DRIVER,
            JSON.stringify([process.execPath, CLI, 'init', '--config', config]),
            JSON.stringify(script),
          ],
          { timeout: 60_000 },
          (err, stdout) =>
            err ? reject(err) : resolve(JSON.parse(stdout) as { out: string; code: number | null }),
        ),
    );
    expect(result.waiting, result.out).toBeUndefined();
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('expected a domain like example.org');
    expect(result.out).not.toContain('typed-secret-9');
    expect(result.out).toContain(`wrote ${config}`);
    expect(readFileSync(join(dir.path, 'garden.secrets'), 'utf8')).toContain(
      'GARDEN_PASSWORD="typed-secret-9"',
    );
    expect(statSync(join(dir.path, 'garden.secrets')).mode & 0o777).toBe(0o600);
    const check = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(process.execPath, [CLI, 'check', '--config', config], (err, stdout) =>
        resolve({ code: err ? 1 : 0, stdout }),
      ),
    );
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('account   garden@example.org/agent via xmpp://example.org:5222');
  });
});
