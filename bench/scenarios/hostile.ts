/**
 * Hostile (issue 13): 20,000 mixed hostile stanzas from an owner and a stranger (bench/hostile.ts: malformed
 * readouts, 10,000-parameter sets, bad forms, long chat, unknown namespaces, 1 MB attributes) against the compiled
 * agent with its shipped limits, while a second owner keeps reading. Reports peak RSS against the agent's own idle
 * RSS (target: at most 64 MiB more), IQs answered (target: all, once) and the owner's readout latency meanwhile.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../src/core/logger.js';
import type { ProsodyOptions, ProsodyServer } from '../../src/devtools/prosody.js';
import { createSensorClient } from '../../src/operator/sensor-client.js';
import { hostileAgentYaml, hostileFlood } from '../hostile.js';
import {
  type BenchOptions,
  benchTransport,
  percentile,
  type Row,
  sleep,
  startJsonChild,
  stopChild,
  CLI,
} from '../lib.js';

const MB = 1024 * 1024;
/** 1 MB attributes and 10,000-parameter sets are over Prosody's default 256 KiB: the server lets them through. */
export const HOSTILE_PROSODY: ProsodyOptions = { stanzaSizeLimit: 2 * MB };

export async function hostileScenario(
  server: ProsodyServer,
  dir: string,
  opts: BenchOptions,
): Promise<Row[]> {
  const users = ['hagent', 'halice', 'hcarol', 'hmallory'];
  for (const u of users) await server.register(u, `${u}-pw`);
  const config = join(dir, 'hostile.yaml');
  writeFileSync(
    config,
    hostileAgentYaml({
      service: server.service,
      store: join(dir, 'hostile.db'),
      passwordEnv: 'BENCH_AGENT_PASSWORD',
    })
      .replace('username: hall', 'username: hagent')
      .replace('owners: [alice@localhost, carol@localhost]', 'owners: [halice@localhost, hcarol@localhost]'),
  );
  const count = opts.smoke ? 400 : 20_000;
  // Logs at info, as shipped (and "online", which the start waits for, is logged at info).
  const agent = await startJsonChild(
    process.execPath,
    [CLI, 'agent', '--config', config, '--log-level', 'info'],
    (e) => e.msg === 'online',
    { ...process.env, BENCH_AGENT_PASSWORD: 'hagent-pw' },
    30_000,
    'stderr',
  );
  let died: string | undefined;
  agent.child.once('exit', (code, signal) => (died = `agent exited with ${code ?? signal}`));
  const [owner, stranger, probe] = ['halice', 'hmallory', 'hcarol'].map((u) => benchTransport(server, u));
  try {
    for (const t of [owner, stranger, probe]) await t?.start();
    await sleep(opts.smoke ? 500 : 3000); // settle: the idle RSS is the baseline
    const result = await hostileFlood({
      agentPid: agent.child.pid as number,
      senders: [owner!, stranger!],
      prober: createSensorClient({ transport: probe!, log: silentLogger() }),
      count,
      seed: 13,
      stanzas: {
        to: 'hagent@localhost/agent',
        maxAttributeBytes: opts.smoke ? 64 * 1024 : MB,
        maxParams: opts.smoke ? 1000 : 10_000,
        bigEvery: opts.smoke ? 100 : 1000,
      },
      settleMs: opts.smoke ? 30_000 : 120_000,
      progress: (sent, answered) =>
        process.stderr.write(`bench: hostile: ${sent} sent, ${answered} IQs answered\n`),
    });
    if (died) throw new Error(died);
    const base = result.startRssKiB / 1024;
    const refused = Object.entries(result.replies)
      .filter(([k]) => k.endsWith('resource-constraint'))
      .reduce((n, [, v]) => n + v, 0);
    const scenario = 'hostile';
    const flood = `${result.sent} stanzas (${result.iqs} IQs), ${(result.elapsedMs / 1000).toFixed(1)} s`;
    const latency = (p: number): Row => ({
      scenario,
      metric: `owner readout during the flood, p${p}`,
      ours: percentile(result.probeMs, p),
      baseline: '–',
      baselineValue: undefined,
      unit: 'ms',
      better: 'lower',
      note: `${result.probeMs.length} readouts, ${result.probeFailures.length} failed`,
    });
    return [
      {
        scenario,
        metric: 'peak RSS during the flood',
        ours: result.peakRssKiB / 1024,
        baseline: 'the same agent idle, before the flood',
        baselineValue: base,
        unit: 'MiB',
        better: 'lower',
        target: `≤ baseline + 64 MiB (${(base + 64).toFixed(0)} MiB)`,
        note: flood,
      },
      {
        scenario,
        metric: 'IQs answered exactly once',
        ours: result.iqs - result.unanswered - result.duplicates,
        baseline: 'IQs sent',
        baselineValue: result.iqs,
        unit: '',
        better: 'higher',
        target: '= IQs sent',
        note: `${result.unanswered} unanswered, ${result.duplicates} answered twice; ${refused} refused by limits (resource-constraint)`,
      },
      latency(50),
      latency(99),
    ];
  } finally {
    for (const t of [owner, stranger, probe]) await t?.stop().catch(() => undefined);
    await stopChild(agent.child);
  }
}
