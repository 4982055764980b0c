/**
 * Soak (issue 13): the compiled agent with a `system` device at the fastest interval, publishing every reading to
 * PEP, while an owner reads it out (momentary readouts, one after another) until N readings are stored. RSS of the
 * agent is sampled against the number of readings stored; the slope is the least-squares fit over the samples
 * after the warm-up (the first fifth of the readings: V8's first full collections, SQLite's page cache filling).
 *
 * Baseline: the same agent configuration with its device idle (interval 1 h), started at the same moment and
 * sampled at the same moments. It is the same program with the same connection and the same run time, so the
 * difference at the end is what the readings and readouts left behind (the store alone would leave out the XMPP
 * side, where the leak of issue 13 was).
 *
 * The store goes on tmpfs (/dev/shm) where there is one: one fsync per reading is time, not memory, and on a
 * virtual disk it caps the rate far below the interval.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { silentLogger } from '../../src/core/logger.js';
import type { ProsodyServer } from '../../src/devtools/prosody.js';
import { createSensorClient } from '../../src/operator/sensor-client.js';
import {
  agentYaml,
  type BenchOptions,
  benchTransport,
  type Row,
  rssKiB,
  sleep,
  startAgentProcess,
  stopChild,
} from '../lib.js';

/** RSS of the soaked agent and of the idle one (KiB) when `readings` were stored. */
interface Sample {
  readings: number;
  seconds: number;
  rss: number;
  idleRss: number;
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

const mib = (kib: number) => (kib / 1024).toFixed(1);
const SAMPLE_MS = 500;
const READOUT_PAUSE_MS = 20;
/** No new reading for this long: the agent stalled, the run fails rather than hangs. */
const STALL_MS = 30_000;

export async function soakScenario(server: ProsodyServer, dir: string, opts: BenchOptions): Promise<Row[]> {
  const total = opts.soakReadings;
  const warmup = Math.floor(total / 5);
  for (const u of ['sagent', 'sidle', 'sowner']) await server.register(u, `${u}-pw`);
  const storeDir = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/xiot-soak-') : dir;
  const store = join(storeDir, 'soak.db');
  const config = (username: string, interval: string, path: string) => {
    const file = join(dir, `${username}.yaml`);
    writeFileSync(
      file,
      agentYaml({
        service: server.service,
        username,
        owners: ['sowner@localhost'],
        store: path,
        devices: `  - { id: host, type: system, interval: ${interval} }`,
      }),
    );
    return file;
  };
  const soakConfig = config('sagent', opts.soakInterval, store);
  const idleConfig = config('sidle', '1h', join(storeDir, 'idle.db'));
  const [agent, idle] = await Promise.all([
    startAgentProcess(soakConfig, 'sagent-pw'),
    startAgentProcess(idleConfig, 'sidle-pw'),
  ]);
  const transport = benchTransport(server, 'sowner');
  const client = createSensorClient({ transport, log: silentLogger() });
  const db = new Database(store, { readonly: true, fileMustExist: true });
  let done = false;
  try {
    await transport.start();
    const stored = db.prepare('SELECT coalesce(max(id), 0) AS n FROM readings').pluck();
    const backlog = db.prepare('SELECT count(*) FROM outbox').pluck();
    let readouts = 0;
    let readoutFailures = 0;
    // Readouts one after another for the whole run, each followed by a pause: each one reads the device afresh
    // and sends the fields message. Unpaced, they take the agent's CPU and the readings slow to a crawl.
    const reader = (async () => {
      while (!done) {
        try {
          await client.readout('sagent@localhost/agent', { types: ['momentary'], timeoutMs: 10_000 });
          readouts++;
        } catch {
          readoutFailures++;
        }
        await sleep(READOUT_PAUSE_MS);
      }
    })();
    const samples: Sample[] = [];
    const t0 = performance.now();
    let last = { readings: -1, at: t0 };
    for (;;) {
      const readings = stored.get() as number;
      const now = performance.now();
      samples.push({
        readings,
        seconds: (now - t0) / 1000,
        rss: rssKiB(agent.child.pid as number),
        idleRss: rssKiB(idle.child.pid as number),
      });
      if (samples.length % 20 === 0)
        process.stderr.write(
          `bench: soak: ${readings}/${total} readings, RSS ${Math.round((samples.at(-1)?.rss ?? 0) / 1024)} MiB\n`,
        );
      if (readings >= total) break;
      if (readings > last.readings) last = { readings, at: now };
      else if (now - last.at > STALL_MS)
        throw new Error(`no new reading for ${STALL_MS / 1000} s at ${readings}`);
      await sleep(SAMPLE_MS);
    }
    const seconds = (performance.now() - t0) / 1000;
    done = true;
    await reader;
    const outbox = backlog.get() as number;
    if (opts.soakSamples)
      writeFileSync(
        opts.soakSamples,
        `readings,seconds,rss_kib,idle_rss_kib\n${samples.map((s) => `${s.readings},${s.seconds.toFixed(1)},${s.rss},${s.idleRss}`).join('\n')}\n`,
      );
    const after = samples.filter((s) => s.readings >= warmup);
    const fit = (y: (s: Sample) => number) => slope(after.map((s) => ({ x: s.readings, y: y(s) })));
    const end = samples.at(-1) as Sample;
    const readingsDone = end.readings;
    const run = `${readingsDone} readings in ${Math.round(seconds)} s (${Math.round(readingsDone / seconds)}/s, interval ${opts.soakInterval}), ${readouts} readouts${readoutFailures ? ` (${readoutFailures} failed)` : ''}, ${readingsDone - outbox} published (${outbox} still in the outbox)`;
    return [
      {
        scenario: 'soak',
        metric: 'RSS slope per reading after warm-up',
        ours: fit((s) => s.rss),
        // A ratio of two slopes near zero means nothing: the idle agent's drift over the same moments is a note.
        baseline: '–',
        baselineValue: undefined,
        unit: 'KiB',
        better: 'lower',
        target: '≤ 0.05 KiB',
        note: `least squares over ${after.length} samples after the first ${warmup} readings (idle agent over the same samples: ${fit((s) => s.idleRss).toFixed(3)} KiB per reading); ${run}`,
      },
      {
        scenario: 'soak',
        metric: 'RSS at the end',
        ours: end.rss / 1024,
        baseline: 'same agent, device idle, same moments',
        baselineValue: end.idleRss / 1024,
        unit: 'MiB',
        better: 'lower',
        // V8 collects the old generation in a saw-tooth: where in it the run ends is chance, the range is not.
        note: `start ${mib((samples[0] as Sample).rss)} MiB (idle ${mib((samples[0] as Sample).idleRss)}); after warm-up between ${mib(Math.min(...after.map((s) => s.rss)))} and ${mib(Math.max(...after.map((s) => s.rss)))} MiB`,
      },
    ];
  } finally {
    done = true; // the reader stops too when the run failed
    db.close();
    await transport.stop();
    await Promise.all([stopChild(agent.child), stopChild(idle.child)]);
    if (storeDir !== dir) rmSync(storeDir, { recursive: true, force: true });
  }
}
