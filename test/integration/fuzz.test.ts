import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { hostileAgentYaml, hostileFlood } from '../../bench/hostile.js';
import { startJsonChild, stopChild } from '../../bench/lib.js';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import { startClient, type TestClient, tempDir } from '../helpers/agent.js';
import { requireProsody } from '../helpers/requirements.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
/** The agent's heap limit, and the RSS it must stay under while flooded (its idle RSS is ~65 MB). */
const HEAP_MB = 96;
const RSS_BOUND_MIB = 160;
const SEED = Number(process.env.XIOT_FUZZ_SEED ?? 13);

describe.skipIf(!requireProsody())(
  `fuzz: seeded hostile stanzas against the agent process (${HEAP_MB} MB heap)`,
  () => {
    const dir = tempDir();
    let server: ProsodyServer | undefined;
    let agent: ChildProcess | undefined;
    const clients: TestClient[] = [];
    afterAll(async () => {
      for (const c of clients) await c.stop();
      if (agent) await stopChild(agent);
      await server?.stop();
      dir.remove();
    });

    it(`survives ${3000} stanzas from an owner and a stranger, answers every IQ exactly once, stays under ${RSS_BOUND_MIB} MiB RSS and keeps serving an owner (seed ${SEED})`, async () => {
      if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
      server = await startProsody({
        accounts: ['hall', 'alice', 'carol', 'mallory'].map((u) => ({ username: u, password: `${u}-pw` })),
      });
      const config = `${dir.path}/hall.yaml`;
      // The rate limit is raised so that the flood reaches the handlers instead of the token bucket.
      writeFileSync(
        config,
        hostileAgentYaml({
          service: server.service,
          store: `${dir.path}/hall.db`,
          extra: 'limits: { requestRate: 1000, requestBurst: 1000 }',
        }),
      );
      const started = await startJsonChild(
        process.execPath,
        [`--max-old-space-size=${HEAP_MB}`, CLI, 'agent', '--config', config, '--log-level', 'info'],
        (e) => e.msg === 'online',
        { ...process.env, FUZZ_AGENT_PASSWORD: 'hall-pw' },
        30_000,
        'stderr',
      );
      agent = started.child;
      let exit: string | undefined;
      agent.once('exit', (code, signal) => (exit = `exited with ${code ?? signal}`));
      for (const u of ['alice', 'mallory', 'carol']) clients.push(await startClient(server, u, `${u}-pw`));
      const [owner, stranger, prober] = clients as [TestClient, TestClient, TestClient];

      const result = await hostileFlood({
        agentPid: agent.pid as number,
        senders: [owner.transport, stranger.transport],
        prober: prober.sensors,
        count: 3000,
        seed: SEED,
        stanzas: { to: 'hall@localhost/agent', maxAttributeBytes: 64 * 1024, maxParams: 2000, bigEvery: 300 },
        settleMs: 30_000,
      });
      if (process.env.XIOT_FUZZ_REPORT) console.log(JSON.stringify(result, null, 1));

      expect(exit).toBeUndefined();
      expect(result.unanswered).toBe(0);
      expect(result.duplicates).toBe(0);
      expect(result.peakRssKiB / 1024).toBeLessThan(RSS_BOUND_MIB);
      expect(result.probeMs.length).toBeGreaterThan(0);
      expect(result.probeFailures).toEqual([]);
    }, 120_000);
  },
);
