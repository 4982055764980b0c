/** Fleet: K simulated agents against one Prosody; time for an operator to read all, and to command all. */
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/core/logger.js';
import type { ProsodyServer } from '../../src/devtools/prosody.js';
import { createControlClient } from '../../src/operator/control-client.js';
import { createSensorClient } from '../../src/operator/sensor-client.js';
import {
  type BenchOptions,
  median,
  pool,
  type Row,
  startJsonChild,
  stopChild,
  benchTransport,
} from '../lib.js';

const FLEET = fileURLToPath(new URL('../fleet-agents.js', import.meta.url));

export async function fleetScenario(server: ProsodyServer, dir: string, opts: BenchOptions): Promise<Row[]> {
  const k = opts.smoke ? 5 : opts.agents;
  await server.register('fop', 'fop-pw');
  for (let i = 0; i < k; i++) await server.register(`fleet${i}`, 'fleet-pw');
  const fleet = await startJsonChild(
    process.execPath,
    [FLEET, server.service, String(k), dir, 'fop@localhost'],
    (e) => e.event === 'ready',
    process.env,
    600_000,
  );
  const transport = benchTransport(server, 'fop');
  const sensors = createSensorClient({ transport, log: silentLogger() });
  const control = createControlClient(transport);
  await transport.start();
  const jids = Array.from({ length: k }, (_, i) => `fleet${i}@localhost/agent`);
  const read: number[] = [];
  const command: number[] = [];
  let failures = 0;
  for (let r = 0; r < opts.repeats; r++) {
    let t0 = performance.now();
    await pool(jids, 64, async (jid) => {
      await sensors.readout(jid, { types: ['momentary'], timeoutMs: 30_000 }).catch(() => failures++);
    });
    read.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    await pool(jids, 64, async (jid) => {
      await control
        .set(jid, [{ name: 'state', type: 'boolean', value: r % 2 === 0 }], ['relay'])
        .catch(() => failures++);
    });
    command.push((performance.now() - t0) / 1000);
  }
  await transport.stop();
  await stopChild(fleet.child);
  const note = `${k} agents, 64 requests in flight${failures ? `, ${failures} failed` : ''}; all online after ${Math.round(Number(fleet.events.at(-1)?.ms) / 100) / 10} s`;
  return [
    {
      scenario: 'fleet',
      metric: 'read all agents',
      ours: median(read),
      baseline: '–',
      baselineValue: undefined,
      unit: 's',
      better: 'lower',
      target: '≤ 5 s (1,000 agents)',
      note,
    },
    {
      scenario: 'fleet',
      metric: 'one command to all agents',
      ours: median(command),
      baseline: '–',
      baselineValue: undefined,
      unit: 's',
      better: 'lower',
      note,
    },
  ];
}
