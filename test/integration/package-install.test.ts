/**
 * The tarball users install: `npm pack`, `npm install -g --prefix TMP`, then the installed `xiot` writes a config
 * (registering its account on a real Prosody), checks it, prints its unit and runs.
 *
 * CI time: a full install compiles better-sqlite3 and epoll (~70 s idle, minutes on a loaded 2-core machine),
 * which the project's own `npm ci` has just done with the same versions and the same Node. So by default the
 * install skips install scripts and reuses those two compiled bindings; everything else (files, dependencies,
 * bin, entry points) comes from the tarball. XIOT_PACK_FULL_INSTALL=1 runs the install scripts as a user would.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import { tempDir } from '../helpers/agent.js';
import { requireProsody, requireSystemdAnalyze } from '../helpers/requirements.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FULL = process.env.XIOT_PACK_FULL_INSTALL === '1';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function run(file: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, maxBuffer: 16 << 20, timeout: 600_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const NATIVE = [
  ['better-sqlite3', 'build/Release/better_sqlite3.node'],
  ['epoll', 'build/Release/epoll.node'],
] as const;

describe.skipIf(!requireProsody())('the packed tarball, installed into a fresh prefix', () => {
  const dir = tempDir('xiot-pack-');
  const prefix = join(dir.path, 'prefix');
  const xiot = join(prefix, 'bin', 'xiot');
  let server: ProsodyServer;
  let tarball: string;
  let installMs = 0;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'cli.js')))
      throw new Error('dist/ is missing: run `npm run build` first');
    server = await startProsody({ inBandRegistration: true });
    const packed = await run('npm', ['pack', '--pack-destination', dir.path, '--json']);
    expect(packed.code, packed.stderr).toBe(0);
    tarball = join(dir.path, (JSON.parse(packed.stdout) as [{ filename: string }])[0].filename);
    const started = Date.now();
    const installed = await run('npm', [
      'install',
      '--global',
      '--prefix',
      prefix,
      tarball,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      ...(FULL ? ['--allow-scripts=better-sqlite3,epoll,@serialport/bindings-cpp'] : ['--ignore-scripts']),
    ]);
    expect(installed.code, installed.stderr).toBe(0);
    if (!FULL) {
      for (const [name, file] of NATIVE) {
        const target = join(prefix, 'lib', 'node_modules', 'xmpp-iot', 'node_modules', name, file);
        mkdirSync(join(target, '..'), { recursive: true });
        copyFileSync(join(ROOT, 'node_modules', name, file), target);
      }
    }
    installMs = Date.now() - started;
  }, 900_000);
  afterAll(async () => {
    await server?.stop();
    dir.remove();
  });

  it('holds only what users run', async () => {
    const listed = await run('tar', ['tzf', tarball]);
    const files = listed.stdout
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ''));
    expect(files).toContain('dist/src/cli.js');
    expect(files).toContain('docs/errors.md');
    expect(
      files.filter((f) => /^(bench|test)\/|^dist\/(bench|test)\/|\.map$|\.py$|^src\/.*\.ts$/.test(f)),
    ).toEqual([]);
    console.info(
      `package: ${files.length} files; install ${FULL ? 'with' : 'without'} scripts took ${installMs} ms`,
    );
  });

  it('runs xiot --version', async () => {
    const r = await run(xiot, ['--version']);
    expect(r.stdout).toBe(`${VERSION}\n`);
  });

  it('registers an account with xiot init --non-interactive, passes xiot check and logs in', async () => {
    const config = join(dir.path, 'etc', 'garden.yaml');
    const init = await run(xiot, [
      'init',
      '--non-interactive',
      '--config',
      config,
      '--service',
      server.service,
      '--domain',
      'localhost',
      '--username',
      'garden',
      '--register',
      '--owner',
      'alice@localhost',
    ]);
    expect(init.stderr).toBe('');
    expect(init.stdout).toContain('registered garden@localhost and logged in with it');
    const check = await run(xiot, ['check', '--config', config]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('account   garden@localhost/agent');
    // The agent itself, from the installed files (better-sqlite3's binding included): online, then stopped.
    const agent = spawn(xiot, ['agent', '--config', config, '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "online" within 20 s:\n${out}`)), 20_000);
      const onData = (d: Buffer) => {
        out += d;
        if (/"msg":"online"/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      agent.stdout.on('data', onData);
      agent.stderr.on('data', onData);
    });
    agent.kill('SIGTERM');
    const code = await new Promise((resolve) => agent.on('exit', resolve));
    expect(code).toBe(0);
    expect(readdirSync(join(dir.path, 'etc', 'data'))).toContain('garden.db');
  });

  it.skipIf(!requireSystemdAnalyze())('prints a unit systemd-analyze verify accepts', async () => {
    const config = join(dir.path, 'etc', 'garden.yaml');
    const printed = await run(xiot, ['service', 'print', '--config', config]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toContain(
      `ExecStart=${process.execPath} ${join(prefix, 'lib', 'node_modules', 'xmpp-iot', 'dist', 'src', 'cli.js')} agent`,
    );
    const unit = join(dir.path, 'xmpp-iot.service');
    writeFileSync(unit, printed.stdout);
    const verified = await run('systemd-analyze', ['verify', unit]);
    const complaints = `${verified.stdout}${verified.stderr}`
      .split('\n')
      .filter((l) => l && !/System has not been booted with systemd|Failed to connect to bus/.test(l));
    expect(complaints).toEqual([]);
  });
});
