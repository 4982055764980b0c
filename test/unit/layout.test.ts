/**
 * The layout as docs/architecture.md draws it: folders of src/ import each other one way only (no circles between
 * folders), the app reaches the EXI codec by its package name only, and the package imports nothing of the app.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SPECIFIER = /(?:from\s+|import\(\s*)'([^']+)'/g;

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

function imports(file: string): string[] {
  return [...readFileSync(path.join(ROOT, file), 'utf8').matchAll(SPECIFIER)].map((m) => m[1] as string);
}

/** `src/agent/runner.ts` → `agent`; `src/cli.ts` and `src/cli/*` → `cli`; outside src/: the top folder. */
function folderOf(file: string): string {
  const parts = file.split(path.sep);
  if (parts[0] !== 'src') return parts[0] as string;
  return (parts[1] as string).replace(/\.ts$/, '');
}

/** Edges between folders of src/, each with one file import that makes it (for the message). */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sources('src')) {
    const from = folderOf(file);
    for (const spec of imports(file)) {
      if (!spec.startsWith('.')) continue;
      const target = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), spec));
      const to = folderOf(target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      edges.set(to, `${file} imports ${spec}`);
      graph.set(from, edges);
    }
  }
  return graph;
}

function findCircle(graph: Map<string, Map<string, string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    if (!state.has(node)) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return undefined;
}

describe('layout', () => {
  it('has no import circle between the folders of src/', () => {
    const graph = folderGraph();
    const circle = findCircle(graph);
    const why = circle?.slice(1).map((to, i) => graph.get(circle[i] as string)?.get(to));
    expect(circle && `${circle.join(' → ')}\n${why?.join('\n')}`).toBeUndefined();
  });

  it('finds a circle when there is one (the check itself can fail)', () => {
    const graph = new Map([
      ['agent', new Map([['xmpp', 'a']])],
      ['xmpp', new Map([['core', 'b']])],
      ['core', new Map([['agent', 'c']])],
    ]);
    expect(findCircle(graph)).toEqual(['agent', 'xmpp', 'core', 'agent']);
  });

  it('keeps the agent, the hub and the operator tools apart (each may use the layers below, not each other)', () => {
    const graph = folderGraph();
    const roles = ['agent', 'hub', 'operator'];
    const crossings = roles.flatMap((from) =>
      roles.filter((to) => to !== from && graph.get(from)?.has(to)).map((to) => graph.get(from)?.get(to)),
    );
    expect(crossings).toEqual([]);
  });

  it('reaches the EXI codec only by its package name', () => {
    const reaching = ['src', 'test', 'bench', 'devices', 'firmware-sim']
      .flatMap((dir) => sources(dir).map((file) => [file, imports(file)] as const))
      .flatMap(([file, specs]) =>
        specs.filter((s) => s.includes('packages/') || s.includes('exi4js/')).map((s) => `${file}: ${s}`),
      );
    expect(reaching).toEqual([]);
  });

  it('keeps the exi4js package free of the app: no import leaves packages/exi4js', () => {
    const pkg = path.join('packages', 'exi4js');
    const leaving = [...sources(path.join(pkg, 'src')), ...sources(path.join(pkg, 'test'))].flatMap((file) =>
      imports(file)
        .filter((s) => s.startsWith('.'))
        .filter((s) => !path.resolve(path.dirname(path.join(ROOT, file)), s).startsWith(path.join(ROOT, pkg)))
        .map((s) => `${file}: ${s}`),
    );
    // The codec needs nothing but Node; its tests only what its own package.json declares.
    const manifest = JSON.parse(readFileSync(path.join(ROOT, pkg, 'package.json'), 'utf8')) as {
      devDependencies?: Record<string, string>;
    };
    const declared = (s: string, file: string) =>
      file.includes(`${path.sep}test${path.sep}`) &&
      Object.keys(manifest.devDependencies ?? {}).some((d) => s === d || s.startsWith(`${d}/`));
    const undeclared = [...sources(path.join(pkg, 'src')), ...sources(path.join(pkg, 'test'))].flatMap(
      (file) =>
        imports(file)
          .filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !declared(s, file))
          .map((s) => `${file}: ${s}`),
    );
    expect(leaving).toEqual([]);
    expect(undeclared).toEqual([]);
  });
});
