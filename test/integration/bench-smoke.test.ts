import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/agent.js';
import { requireFuse, requireProsody, requireRoot, requireSlixmpp } from '../helpers/requirements.js';

const BENCH = fileURLToPath(new URL('../../dist/bench/run.js', import.meta.url));

// The latency scenario drives the GPIO simulator: root and FUSE, like the GPIO tests.
// Prosody only (--servers prosody): the full run adds ejabberd for readout and publish, where a smoke-sized publish
// lost notifications once in four runs (not yet understood; see README "Performance"), and the test must stay short.
describe.skipIf(!requireProsody() || !requireSlixmpp() || !requireRoot() || !requireFuse())(
  'npm run bench, smoke mode',
  () => {
    const dir = tempDir();
    afterAll(() => dir.remove());

    it('runs every scenario with small N and writes the table and the JSON', async () => {
      if (!existsSync(BENCH))
        throw new Error(`${BENCH} is missing: run \`npm run build\` first (npm test does)`);
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [BENCH, '--smoke', '--servers', 'prosody', '--out', dir.path], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('exit', (c) => {
          if (c !== 0) console.error(stderr);
          resolve(c);
        });
      });
      expect(code).toBe(0);
      const json = JSON.parse(readFileSync(`${dir.path}/results.json`, 'utf8')) as {
        rows: { scenario: string; server?: string; metric: string; ours: number; baselineValue?: number }[];
        failures: string[];
      };
      expect(json.failures).toEqual([]);
      expect([...new Set(json.rows.map((r) => r.scenario))]).toEqual([
        'readout',
        'publish',
        'latency',
        'footprint',
        'fleet',
        'hostile',
        'soak',
        'dashboard',
        'ingest',
        'history',
      ]);
      // An RSS slope may be zero or negative (memory returned), and so may the ingest lag's growth (the hub stored
      // a reading before the plain subscriber saw it); every other figure is a positive measurement.
      const signed = (metric: string) =>
        metric.startsWith('RSS slope') || metric.startsWith('ingest lag growth');
      expect(json.rows.filter((r) => !(Number.isFinite(r.ours) && (r.ours > 0 || signed(r.metric))))).toEqual(
        [],
      );
      const md = readFileSync(`${dir.path}/results.md`, 'utf8');
      expect(md).toMatch(/\| readout \| prosody \| readouts\/s, sequential \| .* \| minimal responder \|/);
      // The hostile flood (small): every IQ answered exactly once.
      const answered = json.rows.find(
        (r) => r.scenario === 'hostile' && r.metric === 'IQs answered exactly once',
      );
      expect(answered?.ours).toBe(answered?.baselineValue);
    }, 240_000);
  },
);

describe('npm run bench options', () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BENCH, ...args]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });

  it('prints its usage with --help, and refuses an unknown option, scenario or count with exit 2', async () => {
    if (!existsSync(BENCH))
      throw new Error(`${BENCH} is missing: run \`npm run build\` first (npm test does)`);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--only NAMES');
    expect(help.stdout).toContain('readout, publish');
    for (const [args, message] of [
      [['--bogus'], "Unknown option '--bogus'"],
      [['--only', 'readout,nope'], '--only: no scenario "nope"'],
      [['--repeats', '0'], '--repeats: expected a whole number above 0, got "0"'],
      [['--servers', 'openfire'], '--servers: expected prosody or ejabberd, got "openfire"'],
    ] as const) {
      const r = await run([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain('Usage: npm run bench');
      expect(r.stderr).not.toContain('    at '); // no stack trace
    }
  });
});
