import { describe, expect, it } from 'vitest';
import { useAgentFixture } from '../helpers/agent-fixture.js';
import { servers } from '../helpers/servers.js';

describe.each(servers())('a device that cannot be read (%s)', (kind) => {
  // /proc points at an empty folder: the system device fails like an unplugged sensor.
  const fx = useAgentFixture((dir) => ({
    server: kind,
    accounts: { shed: 'agent-secret', alice: 'alice-secret' },
    agent: {
      username: 'shed',
      owners: ['alice@localhost'],
      extraYaml: `hardware: { procRoot: ${dir}, sysRoot: ${dir} }`,
      devicesYaml: `
  - id: host
    type: system
    interval: 1h`,
    },
    clients: { owner: { username: 'alice' } },
    clientsAfterAgent: true,
  }));

  it('answers a readout with a failure message naming the node, and completes it with done', async () => {
    const result = await fx.owner.sensors.readout(fx.jid, { types: ['momentary'] });
    expect(result.done).toBe(true);
    expect(result.fields).toEqual([]);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ nodeId: 'host' });
    expect(result.failures[0]?.message).toMatch(/ENOENT.*(loadavg|meminfo|uptime)/);
    expect(fx.agent.status().devices.host?.available).toBe(false);
  });
});
