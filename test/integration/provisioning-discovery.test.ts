import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import type { Agent } from '../../src/agent/agent.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { startProvisioningComponent } from '../helpers/provisioning-component.js';
import { servers } from '../helpers/servers.js';

describe.each(servers())('XEP-0324: finding the provisioning server by service discovery (%s)', (kind) => {
  let server: XmppServer | undefined;
  let agent: Agent | undefined;
  let carol: TestClient | undefined;
  let component: Awaited<ReturnType<typeof startProvisioningComponent>> | undefined;
  const dir = tempDir();

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await carol?.stop();
    await component?.stop();
    await server?.stop();
    dir.remove();
  });

  it('finds a provisioning component on its server and lets it decide for a non-owner', async () => {
    server = await startServer(kind, {
      components: [{ name: 'provisioning.localhost', secret: 'component-secret' }],
      accounts: ['hall', 'carol'].map((u) => ({ username: u, password: `${u}-pw` })),
    });
    component = await startProvisioningComponent({
      port: server.componentPort,
      name: 'provisioning.localhost',
      secret: 'component-secret',
    });
    component.rules.read.set('carol@localhost', { fields: ['uptime'] });
    agent = await startAgent(
      agentConfig(server, {
        username: 'hall',
        password: 'hall-pw',
        owners: ['alice@localhost'],
        store: `${dir.path}/hall.db`,
        extraYaml: 'provisioning: { discover: true }',
        devicesYaml: '  - { id: host, type: system, interval: 1h }',
      }),
    );
    carol = await startClient(server, 'carol', 'carol-pw');
    const jid = agent.transport.jid as string;
    // Discovery runs right after login: wait for it rather than for a fixed time.
    const result = await waitFor('a readout allowed by the discovered server', () =>
      carol?.sensors.readout(jid, { types: ['momentary'], timeoutMs: 2000 }).catch(() => undefined),
    );
    expect([...new Set(result.fields.map((f) => f.name))]).toEqual(['uptime']);
    expect(component.questions.some((q) => q.kind === 'canRead' && q.jid === 'carol@localhost')).toBe(true);
  });

  it('does not look for provisioning services unless told to: non-owners stay refused', async () => {
    const s = server as XmppServer;
    await agent?.stop({ drainMs: 0 });
    agent = await startAgent(
      agentConfig(s, {
        username: 'hall',
        password: 'hall-pw',
        owners: ['alice@localhost'],
        store: `${dir.path}/hall2.db`,
        devicesYaml: '  - { id: host, type: system, interval: 1h }',
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    await expect(
      carol?.sensors.readout(agent.transport.jid as string, { types: ['momentary'] }),
    ).rejects.toMatchObject({
      condition: 'forbidden',
    });
  });
});
