/**
 * `npm run bench`: every scenario against its own throwaway Prosody on loopback (readout and publish also against
 * a throwaway ejabberd, issue 12; history, the hub's store, against SQLite and a throwaway PostgreSQL, no XMPP), compared in the same run with the baseline the benchmark issue names; medians
 * over repeats, ratios rather than absolute numbers (shared 2-core machines are noisy). Each ratio is taken
 * against a baseline measured on the same server. Writes bench/results.md and bench/results.json (or --out DIR).
 *   node dist/bench/run.js [--smoke] [--agents 1000] [--repeats 3] [--only readout,publish]
 *                          [--servers prosody,ejabberd] [--out DIR]
 *                          [--soak-readings 100000] [--soak-interval 2ms] [--soak-samples FILE.csv] [--help]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MissingDependencyError } from '../src/core/errors.js';
import { type EjabberdOptions, startEjabberd } from '../src/devtools/ejabberd.js';
import { type ProsodyOptions, startProsody } from '../src/devtools/prosody.js';
import type { ServerKind, XmppServer } from '../src/devtools/xmpp-server.js';
import { SYSTEM_PYTHON } from '../src/devtools/system-deps.js';
import type { HistoryStore } from '../src/hub/history.js';
import { openHistoryStore } from '../src/hub/history-store.js';
import { VERSION } from '../src/version.js';
import { type BenchOptions, type Row, ratio } from './lib.js';
import { dashboardScenario } from './scenarios/dashboard.js';
import { fleetScenario } from './scenarios/fleet.js';
import { footprintScenario } from './scenarios/footprint.js';
import { historyScenario } from './scenarios/history.js';
import { HOSTILE_PROSODY, hostileScenario } from './scenarios/hostile.js';
import { INGEST_HUB, ingestScenario } from './scenarios/ingest.js';
import { latencyScenario } from './scenarios/latency.js';
import { publishScenario } from './scenarios/publish.js';
import { readoutScenario } from './scenarios/readout.js';
import { soakScenario } from './scenarios/soak.js';

type Scenario = (server: XmppServer, dir: string, opts: BenchOptions) => Promise<Row[]>;
// The Prosody-only scenarios take a ProsodyServer: the loop below starts nothing else for them.
const SCENARIOS: Record<string, { run: Scenario; servers: readonly ServerKind[] }> = {
  readout: { run: readoutScenario, servers: ['prosody', 'ejabberd'] },
  publish: { run: publishScenario, servers: ['prosody', 'ejabberd'] },
  latency: { run: latencyScenario as Scenario, servers: ['prosody'] },
  footprint: { run: footprintScenario as Scenario, servers: ['prosody'] },
  fleet: { run: fleetScenario as Scenario, servers: ['prosody'] },
  hostile: { run: hostileScenario as Scenario, servers: ['prosody'] },
  soak: { run: soakScenario as Scenario, servers: ['prosody'] },
  dashboard: { run: dashboardScenario, servers: ['prosody'] },
  ingest: {
    run: (server, dir, opts) => ingestScenario(server, dir, opts, openBenchHistory),
    servers: ['prosody', 'ejabberd'],
  },
};
/** Scenarios that need no XMPP server: run once, whatever --servers says. */
const STANDALONE: Record<string, (dir: string, opts: BenchOptions) => Promise<Row[]>> = {
  history: historyScenario,
};
/** Server settings a scenario needs beyond the defaults. */
const PROSODY: Record<string, ProsodyOptions> = {
  hostile: HOSTILE_PROSODY,
  ingest: { components: [INGEST_HUB] },
};
/**
 * ejabberd without Debian's c2s shaper (3000 B/s, which the test servers keep): a benchmark measures the agent
 * and the server, not a rate limit that would cap every row near 10 readouts/s.
 */
const EJABBERD: EjabberdOptions = { shaper: false };
const EJABBERD_FOR: Record<string, EjabberdOptions> = { ingest: { components: [INGEST_HUB] } };

/** The fleet history the ingest scenario writes: the hub's default store (SQLite). */
async function openBenchHistory(path: string): Promise<HistoryStore> {
  return openHistoryStore(path);
}

const USAGE = `Usage: npm run bench -- [options]   (or: node dist/bench/run.js [options])
  --only NAMES        scenarios, comma-separated (default: all): ${[...Object.keys(SCENARIOS), ...Object.keys(STANDALONE)].join(', ')}
  --servers NAMES     prosody,ejabberd (default: both)
  --repeats N         repeats per scenario, medians over them (default 3; 1 with --smoke)
  --smoke             a short run that only checks every scenario works
  --agents N          agents in the fleet scenario (default 100)
  --out DIR           where results.md and results.json go (default bench/)
  --soak-readings N   readings in the soak scenario (default 100000)
  --soak-interval D   interval of the soak's device (default 2ms)
  --soak-samples FILE also write the soak's memory samples as CSV
  --help              this text`;

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseOptions() {
  try {
    return parseArgs({
      options: {
        help: { type: 'boolean' },
        smoke: { type: 'boolean' },
        agents: { type: 'string' },
        repeats: { type: 'string' },
        only: { type: 'string' },
        servers: { type: 'string' },
        out: { type: 'string' },
        'soak-readings': { type: 'string' },
        'soak-interval': { type: 'string' },
        'soak-samples': { type: 'string' },
      },
    }).values;
  } catch (err) {
    return usageError((err as Error).message);
  }
}
const values = parseOptions();
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
for (const key of ['repeats', 'agents', 'soak-readings'] as const)
  if (values[key] !== undefined && !(Number.isInteger(Number(values[key])) && Number(values[key]) > 0))
    usageError(`--${key}: expected a whole number above 0, got "${values[key]}"`);
const opts: BenchOptions = {
  smoke: values.smoke ?? false,
  repeats: Number(values.repeats ?? (values.smoke ? 1 : 3)),
  agents: Number(values.agents ?? 100),
  soakReadings: Number(values['soak-readings'] ?? (values.smoke ? 1500 : 100_000)),
  soakInterval: values['soak-interval'] ?? '2ms',
  ...(values['soak-samples'] ? { soakSamples: values['soak-samples'] } : {}),
};
const only = values.only?.split(',') ?? [...Object.keys(SCENARIOS), ...Object.keys(STANDALONE)];
for (const name of only)
  if (!(name in SCENARIOS) && !(name in STANDALONE)) usageError(`--only: no scenario "${name}"`);
const servers = (values.servers?.split(',') ?? ['prosody', 'ejabberd']) as ServerKind[];
for (const kind of servers)
  if (kind !== 'prosody' && kind !== 'ejabberd')
    usageError(`--servers: expected prosody or ejabberd, got "${kind}"`);
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
const skipped = new Set<string>();
for (const name of only) {
  const standalone = STANDALONE[name];
  if (standalone) {
    const dir = mkdtempSync(join(tmpdir(), `xiot-bench-${name}-`));
    process.stderr.write(`bench: ${name}…\n`);
    try {
      rows.push(...(await standalone(dir, opts)));
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message}`);
      process.stderr.write(`bench: ${name} failed: ${(err as Error).stack}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    continue;
  }
  const scenario = SCENARIOS[name];
  if (!scenario)
    throw new Error(
      `unknown scenario ${name} (${[...Object.keys(SCENARIOS), ...Object.keys(STANDALONE)].join(', ')})`,
    );
  for (const kind of scenario.servers.filter((k) => servers.includes(k))) {
    const dir = mkdtempSync(join(tmpdir(), `xiot-bench-${name}-`));
    let server: XmppServer;
    try {
      server =
        kind === 'prosody'
          ? await startProsody(PROSODY[name])
          : await startEjabberd({ ...EJABBERD, ...EJABBERD_FOR[name] });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      // A machine without ejabberd still gets the Prosody rows; the table says what was left out.
      if (err instanceof MissingDependencyError && kind !== 'prosody') {
        skipped.add(`${kind}: ${err.message}`);
        continue;
      }
      throw err;
    }
    process.stderr.write(`bench: ${name} on ${kind}…\n`);
    try {
      rows.push(...(await scenario.run(server, dir, opts)).map((r) => ({ ...r, server: kind })));
    } catch (err) {
      failures.push(`${name} on ${kind}: ${(err as Error).message}`);
      process.stderr.write(`bench: ${name} on ${kind} failed: ${(err as Error).stack}\n`);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const fmt = (v: number | undefined, unit: string) =>
  v === undefined || !Number.isFinite(v)
    ? '–'
    : `${v >= 100 ? Math.round(v) : v < 1 ? v.toFixed(3) : v.toFixed(unit === 's' ? 2 : 1)} ${unit}`;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
const versions = `xmpp-iot ${VERSION}, Node ${process.version}, Prosody ${version('prosodyctl', ['about'], /Prosody ([\d.]+)/)}, ejabberd ${version('dpkg-query', ['-W', '-f', '${Version}', 'ejabberd'], /^([\d.]+)/)} (c2s shaper off), slixmpp ${version(SYSTEM_PYTHON, ['-c', 'import slixmpp; print(slixmpp.__version__)'], /([\d.]+)/)}`;
const md = [
  `# Benchmark results${opts.smoke ? ' (smoke run: small N, not a measurement)' : ''}`,
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${machine}`,
  `- versions: ${versions}`,
  `- medians over ${opts.repeats} repeat(s); ratio = ours / baseline, measured in the same run (readout: the median of per-round ratios, ${opts.smoke ? 'four short interleaved rounds (smoke)' : 'ten interleaved rounds of 500 readouts per repeat'})`,
  '',
  '| scenario | server | metric | ours | baseline | baseline value | ratio | target |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${r.server ?? ''} | ${r.metric} | ${fmt(r.ours, r.unit)} | ${r.baseline} | ${fmt(r.baselineValue, r.unit)} | ${ratio(r)} | ${r.target ?? ''}${r.note ? ` (${r.note})` : ''} |`,
  ),
  ...(skipped.size ? ['', 'Servers left out:', ...[...skipped].map((s) => `- ${s}`)] : []),
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
