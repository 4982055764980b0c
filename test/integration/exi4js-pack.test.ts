/**
 * `exi4js` stands on its own: `npm pack -w exi4js` gives a tarball that installs into an empty folder (no network:
 * the package has no dependencies) and decodes a reference vector from a five-line script, its bundled schemas
 * included. Needs the package built (`npm test` builds first).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from 'exi4js';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/agent.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PKG = path.join(ROOT, 'packages', 'exi4js');
const VECTOR = path.join(PKG, 'test', 'vectors', 'ps-event.bitpacked-header.exi');

describe('exi4js as a package of its own', () => {
  const dir = tempDir('xiot-exi4js-');
  afterAll(() => dir.remove());
  const npm = (args: string[], cwd: string) =>
    execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' });

  it('packs only what users run: the built code, its types, the schemas, README and package.json', () => {
    if (!existsSync(path.join(PKG, 'dist', 'index.js')))
      throw new Error('exi4js is not built: run npm run build');
    const [report] = JSON.parse(
      npm(['pack', '-w', 'exi4js', '--json', '--pack-destination', dir.path], ROOT),
    ) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = report!.files.map((f) => f.path);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('schemas/xep-0323.xsd');
    expect(files).toContain('README.md');
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.endsWith('.map'))).toEqual(
      [],
    );
    expect(existsSync(path.join(dir.path, report!.filename))).toBe(true);
  });

  it('installs into an empty folder and decodes a reference vector from a five-line script', () => {
    const app = path.join(dir.path, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    npm(['install', '--offline', path.join(dir.path, 'exi4js-0.1.0.tgz')], app);
    writeFileSync(
      path.join(app, 'decode.js'),
      [
        "import { readFileSync } from 'node:fs';",
        "import { decode, iotSchema } from 'exi4js';",
        'const bytes = readFileSync(process.argv[2]);',
        "if (!iotSchema('xep-0323.xsd')) throw new Error('bundled schema missing');",
        'process.stdout.write(decode(bytes));',
      ].join('\n'),
    );
    const out = execFileSync(process.execPath, ['decode.js', VECTOR], { cwd: app, encoding: 'utf8' });
    expect(out).toBe(decode(readFileSync(VECTOR)));
    expect(out).toMatch(/^<message[ >]/);
  });
});
