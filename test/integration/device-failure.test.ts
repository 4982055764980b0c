import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/agent.js';
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
    clients: { owner: { username: 'alice', approve: ['shed@localhost'] } },
    clientsAfterAgent: true,
    subscribe: ['owner'],
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

  it("names the unavailable device in the agent's presence status", async () => {
    const status = await waitFor('a presence status naming host', () =>
      fx.owner.presences
        .filter((p) => String(p.attrs.from).startsWith('shed@localhost/') && !p.attrs.type)
        .map((p) => p.getChildText('status'))
        .find((s) => s?.includes('unavailable')),
    );
    expect(status).toBe('1 device, 1 unavailable: host');
  });
});
