import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import type { Agent } from '../../src/runtime/agent.js';
import { agentConfig, startAgent, tempDir } from '../helpers/agent.js';
import { requireProsody, requireSlixmpp } from '../helpers/requirements.js';
import { runSlixmpp } from '../helpers/slixmpp.js';

describe.skipIf(!requireProsody() || !requireSlixmpp())('slixmpp 1.8.3 as a client of the agent', () => {
  let server: ProsodyServer;
  let agent: Agent;
  const dir = tempDir();

  beforeAll(async () => {
    server = await startProsody({
      accounts: [
        { username: 'kitchen', password: 'agent-secret' },
        { username: 'bob', password: 'bob-secret' },
        { username: 'eve', password: 'eve-secret' },
      ],
    });
    agent = await startAgent(
      agentConfig(server, {
        username: 'kitchen',
        password: 'agent-secret',
        owners: ['bob@localhost'],
        store: `${dir.path}/kitchen.db`,
        devicesYaml: `
  - id: host
    type: system
    interval: 1h`,
      }),
    );
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await server?.stop();
    dir.remove();
  });

  it("reads the agent's momentary values with xep_0323 and gets every field with done", async () => {
    const result = await runSlixmpp({
      jid: 'bob@localhost',
      password: 'bob-secret',
      port: server.c2sPort,
      action: 'read-momentary',
      target: agent.transport.jid as string,
    });
    expect(result.ok).toBe(true);
    expect(result.results).toContain('accepted');
    expect(result.results?.at(-1)).toBe('done');
    const expected = (await agent.devices.get('host')!.readNow()).fields.filter((f) =>
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
    const result = await runSlixmpp({
      jid: 'eve@localhost',
      password: 'eve-secret',
      port: server.c2sPort,
      action: 'read-momentary',
      target: agent.transport.jid as string,
    }).catch((err) => err.result);
    expect(result?.fields ?? []).toEqual([]);
    expect(result?.iqErrors?.[0]).toMatchObject({ condition: 'forbidden' });
  });
});
