import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import type { Agent } from '../../src/runtime/agent.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir } from '../helpers/agent.js';
import { requireProsody } from '../helpers/requirements.js';

describe.skipIf(!requireProsody())('a device that cannot be read', () => {
  let server: ProsodyServer;
  let agent: Agent;
  let owner: TestClient;
  const dir = tempDir();

  beforeAll(async () => {
    server = await startProsody({
      accounts: [
        { username: 'shed', password: 'agent-secret' },
        { username: 'alice', password: 'alice-secret' },
      ],
    });
    // /proc points at an empty folder: the system device fails like an unplugged sensor.
    agent = await startAgent(
      agentConfig(server, {
        username: 'shed',
        password: 'agent-secret',
        owners: ['alice@localhost'],
        store: `${dir.path}/shed.db`,
        extraYaml: `hardware: { procRoot: ${dir.path}, sysRoot: ${dir.path} }`,
        devicesYaml: `
  - id: host
    type: system
    interval: 1h`,
      }),
    );
    owner = await startClient(server, 'alice', 'alice-secret');
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await owner?.stop();
    await server?.stop();
    dir.remove();
  });

  it('answers a readout with a failure message naming the node, and completes it with done', async () => {
    const result = await owner.sensors.readout(agent.transport.jid as string, { types: ['momentary'] });
    expect(result.done).toBe(true);
    expect(result.fields).toEqual([]);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ nodeId: 'host' });
    expect(result.failures[0]?.message).toMatch(/ENOENT.*(loadavg|meminfo|uptime)/);
    expect(agent.status().devices.host?.available).toBe(false);
  });
});
