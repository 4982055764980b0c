/**
 * `npm run bench`: every scenario against its own throwaway Prosody on loopback, compared in the same run with
 * the baseline the benchmark issue names; medians over repeats, ratios rather than absolute numbers (shared
 * 2-core machines are noisy). Writes bench/results.md and bench/results.json (or --out DIR).
 *   node dist/bench/run.js [--smoke] [--agents 1000] [--repeats 3] [--only readout,publish] [--out DIR]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type ProsodyOptions, type ProsodyServer, startProsody } from '../src/devtools/prosody.js';
import { SYSTEM_PYTHON } from '../src/devtools/system-deps.js';
import { VERSION } from '../src/version.js';
import { type BenchOptions, type Row, ratio } from './lib.js';
import { fleetScenario } from './scenarios/fleet.js';
import { footprintScenario } from './scenarios/footprint.js';
import { HOSTILE_PROSODY, hostileScenario } from './scenarios/hostile.js';
import { latencyScenario } from './scenarios/latency.js';
import { publishScenario } from './scenarios/publish.js';
import { readoutScenario } from './scenarios/readout.js';

type Scenario = (server: ProsodyServer, dir: string, opts: BenchOptions) => Promise<Row[]>;
const SCENARIOS: Record<string, Scenario> = {
  readout: readoutScenario,
  publish: publishScenario,
  latency: latencyScenario,
  footprint: footprintScenario,
  fleet: fleetScenario,
  hostile: hostileScenario,
};
/** Server settings a scenario needs beyond the defaults. */
const PROSODY: Record<string, ProsodyOptions> = { hostile: HOSTILE_PROSODY };

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean' },
    agents: { type: 'string' },
    repeats: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const opts: BenchOptions = {
  smoke: values.smoke ?? false,
  repeats: Number(values.repeats ?? (values.smoke ? 1 : 3)),
  agents: Number(values.agents ?? 100),
};
const only = values.only?.split(',') ?? Object.keys(SCENARIOS);
const outDir = values.out ?? fileURLToPath(new URL('../../bench/', import.meta.url));

function version(cmd: string, args: string[], pattern: RegExp): string {
  try {
    return (
      pattern.exec(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))?.[1] ??
      '?'
    );
  } catch {
    return '?';
  }
}

const rows: Row[] = [];
const failures: string[] = [];
for (const name of only) {
  const scenario = SCENARIOS[name];
  if (!scenario) throw new Error(`unknown scenario ${name} (${Object.keys(SCENARIOS).join(', ')})`);
  const dir = mkdtempSync(join(tmpdir(), `xiot-bench-${name}-`));
  const server = await startProsody(PROSODY[name]);
  process.stderr.write(`bench: ${name}…\n`);
  try {
    rows.push(...(await scenario(server, dir, opts)));
  } catch (err) {
    failures.push(`${name}: ${(err as Error).message}`);
    process.stderr.write(`bench: ${name} failed: ${(err as Error).stack}\n`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (v: number | undefined, unit: string) =>
  v === undefined || !Number.isFinite(v)
    ? '–'
    : `${v >= 100 ? Math.round(v) : v < 1 ? v.toFixed(3) : v.toFixed(unit === 's' ? 2 : 1)} ${unit}`;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
const versions = `xmpp-iot ${VERSION}, Node ${process.version}, Prosody ${version('prosodyctl', ['about'], /Prosody ([\d.]+)/)}, slixmpp ${version(SYSTEM_PYTHON, ['-c', 'import slixmpp; print(slixmpp.__version__)'], /([\d.]+)/)}`;
const md = [
  `# Benchmark results${opts.smoke ? ' (smoke run: small N, not a measurement)' : ''}`,
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${machine}`,
  `- versions: ${versions}`,
  `- medians over ${opts.repeats} repeat(s); ratio = ours / baseline, measured in the same run`,
  '',
  '| scenario | metric | ours | baseline | baseline value | ratio | target |',
  '|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${r.metric} | ${fmt(r.ours, r.unit)} | ${r.baseline} | ${fmt(r.baselineValue, r.unit)} | ${ratio(r)} | ${r.target ?? ''}${r.note ? ` (${r.note})` : ''} |`,
  ),
  ...(failures.length ? ['', 'Failed scenarios:', ...failures.map((f) => `- ${f}`)] : []),
  '',
].join('\n');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'results.md'), md);
writeFileSync(
  join(outDir, 'results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine, versions, smoke: opts.smoke, rows, failures }, null, 2)}\n`,
);
process.stdout.write(md);
process.exit(failures.length ? 1 : 0);
