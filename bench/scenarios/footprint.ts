/** Footprint: RSS and start-to-online of the compiled agent with 10 devices, against a bare @xmpp/client process. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProsodyServer } from '../../src/devtools/prosody.js';
import {
  agentYaml,
  type BenchOptions,
  median,
  type Row,
  rssKiB,
  sleep,
  startAgentProcess,
  startJsonChild,
  stopChild,
} from '../lib.js';

const BARE = fileURLToPath(new URL('../bare-client.js', import.meta.url));

export async function footprintScenario(
  server: ProsodyServer,
  dir: string,
  opts: BenchOptions,
): Promise<Row[]> {
  for (const u of ['fagent', 'fbare']) await server.register(u, `${u}-pw`);
  const config = join(dir, 'footprint.yaml');
  const devices = Array.from(
    { length: 10 },
    (_, i) => `  - { id: host${i}, type: system, interval: 10s }`,
  ).join('\n');
  writeFileSync(
    config,
    agentYaml({
      service: server.service,
      username: 'fagent',
      owners: ['nobody@localhost'],
      store: join(dir, 'footprint.db'),
      devices,
    }),
  );
  // RSS 1.5 s after online (the issue's figure), and again once V8's memory reducer has run (it starts 8 s
  // after the heap stops growing): what a long-running agent keeps.
  const STEADY_MS = 12_000;
  const ours = { rss: [] as number[], steady: [] as number[], online: [] as number[] };
  const bare = { rss: [] as number[], steady: [] as number[], online: [] as number[] };
  for (let r = 0; r < opts.repeats; r++) {
    let t0 = performance.now();
    const agent = await startAgentProcess(config, 'fagent-pw');
    ours.online.push(agent.readyAt - t0);
    await sleep(1500);
    ours.rss.push(rssKiB(agent.child.pid as number) / 1024);
    if (!opts.smoke) {
      await sleep(STEADY_MS - 1500);
      ours.steady.push(rssKiB(agent.child.pid as number) / 1024);
    }
    await stopChild(agent.child);
    t0 = performance.now();
    const b = await startJsonChild(
      process.execPath,
      [BARE, server.service, 'fbare', 'fbare-pw'],
      (e) => e.event === 'online',
    );
    bare.online.push(b.readyAt - t0);
    await sleep(1500);
    bare.rss.push(rssKiB(b.child.pid as number) / 1024);
    if (!opts.smoke) {
      await sleep(STEADY_MS - 1500);
      bare.steady.push(rssKiB(b.child.pid as number) / 1024);
    }
    await stopChild(b.child);
  }
  const steady: Row[] = opts.smoke
    ? []
    : [
        {
          scenario: 'footprint',
          metric: `RSS, 10 devices, ${STEADY_MS / 1000} s after online`,
          ours: median(ours.steady),
          baseline: 'bare @xmpp/client process',
          baselineValue: median(bare.steady),
          unit: 'MiB',
          better: 'lower',
          target: '≤ 1.25×',
        },
      ];
  return [
    {
      scenario: 'footprint',
      metric: 'RSS, 10 devices',
      ours: median(ours.rss),
      baseline: 'bare @xmpp/client process',
      baselineValue: median(bare.rss),
      unit: 'MiB',
      better: 'lower',
      target: '≤ 1.25×',
    },
    ...steady,
    {
      scenario: 'footprint',
      metric: 'start to online',
      ours: median(ours.online),
      baseline: 'bare @xmpp/client process',
      baselineValue: median(bare.online),
      unit: 'ms',
      better: 'lower',
      target: '≤ 1000 ms',
    },
  ];
}
