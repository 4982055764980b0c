/**
 * Edge latency: a simulated GPIO edge (the FUSE sysfs simulator, firmware-sim/gpio) on a button read by the
 * compiled agent (unmodified onoff, in a private mount namespace) until the owner's client receives the PEP
 * notification; p50/p95/p99 over N edges. The button's debounce is off (a clean signal such as a PIR output);
 * with the default 20 ms debounce every edge waits those 20 ms by design. Needs root and FUSE, like the GPIO tests.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Element } from '@xmpp/xml';
import { startGpioSimulator } from '../../firmware-sim/gpio/simulator.js';
import { silentLogger } from '../../src/core/logger.js';
import type { ProsodyServer } from '../../src/devtools/prosody.js';
import { findExecutable } from '../../src/devtools/system-deps.js';
import { NS } from '../../src/xmpp/ns.js';
import { createSensorClient } from '../../src/operator/sensor-client.js';
import {
  agentYaml,
  type BenchOptions,
  CLI,
  percentile,
  type Row,
  sleep,
  stopChild,
  benchTransport,
} from '../lib.js';

export async function latencyScenario(
  server: ProsodyServer,
  dir: string,
  opts: BenchOptions,
): Promise<Row[]> {
  if (process.getuid?.() !== 0 || !findExecutable('fusermount3') || !findExecutable('unshare')) {
    throw new Error('needs root and FUSE (apt-get install -y fuse3 libfuse3-dev pkg-config; run as root)');
  }
  const n = opts.smoke ? 20 : 1000;
  for (const u of ['lagent', 'lowner']) await server.register(u, `${u}-pw`);
  const sim = await startGpioSimulator({ board: 'pi5' });
  const owner = benchTransport(server, 'lowner');
  const sensors = createSensorClient({ transport: owner, log: silentLogger(), approve: () => true });
  const arrivals: { at: number; value: string }[] = [];
  owner.on('stanza', (s: Element) => {
    if (!s.is('message') || s.attrs.to !== 'lowner@localhost/bench') return;
    const value = s
      .getChild('event', NS.pubsubEvent)
      ?.getChild('items')
      ?.getChild('item')
      ?.getChild('fields')
      ?.getChild('node')
      ?.getChild('timestamp')
      ?.getChild('boolean')?.attrs.value;
    if (value !== undefined) arrivals.push({ at: performance.now(), value: String(value) });
  });
  owner.on('online', () => void sensors.announce());
  await owner.start();
  await sensors.subscribe('lagent@localhost');
  const config = join(dir, 'latency.yaml');
  writeFileSync(
    config,
    agentYaml({
      service: server.service,
      username: 'lagent',
      owners: ['lowner@localhost'],
      store: join(dir, 'latency.db'),
      devices: '  - { id: button, type: gpio_input, pin: 17, debounce: 0ms }',
    }),
  );
  const { command, args } = sim.namespaceCommand([
    process.execPath,
    CLI,
    'agent',
    '--config',
    config,
    '--log-level',
    'warn',
  ]);
  const agent = spawn(command, args, {
    env: { ...process.env, BENCH_AGENT_PASSWORD: 'lagent-pw' },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  agent.stderr?.on('data', (d) => (stderr += d));
  try {
    // Toggle until the owner sees edges (the friendship settles after the agent's first login), then measure.
    let level = false;
    const deadline = Date.now() + 20_000;
    while (arrivals.length === 0) {
      if (Date.now() > deadline)
        throw new Error(`no notification from the GPIO agent: ${stderr.slice(-400)}`);
      level = !level;
      await sim.setInput(17, level);
      await sleep(200);
    }
    await sleep(300);
    const latencies: number[] = [];
    for (let i = 0; i < n; i++) {
      level = !level;
      const before = arrivals.length;
      const t0 = performance.now();
      await sim.setInput(17, level);
      const until = Date.now() + 2000;
      while (arrivals.length === before && Date.now() < until) await sleep(0.5);
      const hit = arrivals.slice(before).find((a) => a.value === String(level));
      if (hit) latencies.push(hit.at - t0);
      await sleep(15); // well apart, so edges are not debounced or coalesced
    }
    const lost = n - latencies.length;
    const note = `${latencies.length} edges${lost ? `, ${lost} not seen within 2 s` : ''}`;
    return (['p50', 'p95', 'p99'] as const).map((p) => ({
      scenario: 'latency',
      metric: `GPIO edge → owner notification, ${p}`,
      ours: percentile(latencies, Number(p.slice(1))),
      baseline: '–',
      baselineValue: undefined,
      unit: 'ms',
      better: 'lower' as const,
      ...(p === 'p99' ? { target: '≤ 15 ms' } : {}),
      note,
    }));
  } finally {
    await stopChild(agent);
    await owner.stop();
    await sim.stop();
  }
}
