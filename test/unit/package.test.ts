import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  files: string[];
};

function walk(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : [],
  );
}

/** The TypeScript that is built into the tarball (package.json `files`: dist/src, dist/devices, dist/firmware-sim). */
const shipped = ['src', 'devices', 'firmware-sim'].flatMap((d) => walk(join(ROOT, d), '.ts'));

describe('the npm package', () => {
  it('declares every package the shipped code imports', () => {
    const undeclared = new Set<string>();
    for (const file of shipped) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)'([^'.][^']*)'/g)) {
        const spec = m[1] as string;
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        const name = spec.startsWith('@')
          ? spec.split('/').slice(0, 2).join('/')
          : (spec.split('/')[0] as string);
        if (!(name in pkg.dependencies)) undeclared.add(`${name} (${relative(ROOT, file)})`);
      }
    }
    expect([...undeclared]).toEqual([]);
  });

  it('ships no benchmarks, tests or source maps', () => {
    expect(pkg.files).not.toContain('dist');
    expect(pkg.files.filter((f) => /bench|test/.test(f))).toEqual([]);
    expect(pkg.files).toContain('!dist/**/*.map');
  });

  it('has README and docs links that stay inside the package', () => {
    const docs = [join(ROOT, 'README.md'), ...walk(join(ROOT, 'docs'), '.md')];
    const problems: string[] = [];
    for (const file of docs) {
      const text = readFileSync(file, 'utf8');
      if (/\.\.\/shared|\/work\//.test(text))
        problems.push(`${relative(ROOT, file)} mentions ../shared or /work/`);
      for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const path = resolve(dirname(file), target);
        const inside = !relative(ROOT, path).startsWith('..');
        const shippedPath = pkg.files.some((f) => relative(ROOT, path).startsWith(f.replace(/\/?\*.*$/, '')));
        if (!inside || !existsSync(path) || !shippedPath)
          problems.push(`${relative(ROOT, file)} → ${target}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has a bin entry built from src/cli.ts', () => {
    expect(statSync(join(ROOT, 'src', 'cli.ts')).isFile()).toBe(true);
    expect(readFileSync(join(ROOT, 'src', 'cli.ts'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
});
