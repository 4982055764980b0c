import { describe, expect, it } from 'vitest';
import { useAgentFixture } from '../helpers/agent-fixture.js';
import { requireSlixmpp } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';
import { runSlixmpp } from '../helpers/slixmpp.js';

describe.skipIf(!requireSlixmpp()).each(servers())('slixmpp 1.8.3 as a client of the agent (%s)', (kind) => {
  const fx = useAgentFixture({
    server: kind,
    accounts: { kitchen: 'agent-secret', bob: 'bob-secret', eve: 'eve-secret' },
    agent: {
      username: 'kitchen',
      owners: ['bob@localhost'],
      devicesYaml: `
  - id: host
    type: system
    interval: 1h`,
    },
  });

  /** xep_0323 momentary readout of the agent by a slixmpp client logged in as `user`. */
  const readMomentary = (user: 'bob' | 'eve') =>
    runSlixmpp({
      jid: `${user}@localhost`,
      password: `${user}-secret`,
      port: fx.server.c2sPort,
      action: 'read-momentary',
      target: fx.jid,
    });

  it("reads the agent's momentary values with xep_0323 and gets every field with done", async () => {
    const result = await readMomentary('bob');
    expect(result.ok).toBe(true);
    expect(result.results).toContain('accepted');
    expect(result.results?.at(-1)).toBe('done');
    const expected = (await fx.agent.devices.get('host')!.readNow()).fields.filter((f) =>
      f.flags.includes('momentary'),
    );
    const got = result.fields ?? [];
    expect(got.map((f) => f.name).sort()).toEqual(expected.map((f) => f.name).sort());
    for (const f of got) {
      expect(f).toMatchObject({ nodeId: 'host', typename: 'numeric', flags: { momentary: 'true' } });
      expect(Number.isFinite(Number(f.value))).toBe(true);
    }
  });

  it('refuses a stranger running slixmpp with an RFC 6120 forbidden error', async () => {
    const result = await readMomentary('eve').catch((err) => err.result);
    expect(result?.fields ?? []).toEqual([]);
    expect(result?.iqErrors?.[0]).toMatchObject({ condition: 'forbidden' });
  });
});
