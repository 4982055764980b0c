import { xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import type { Agent } from '../../src/runtime/agent.js';
import { NS } from '../../src/xmpp/ns.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { requireProsody } from '../helpers/requirements.js';

describe.skipIf(!requireProsody())('publishing to a pubsub service instead of PEP', () => {
  let server: ProsodyServer;
  let agent: Agent;
  let owner: TestClient;
  let stranger: TestClient;
  const dir = tempDir();
  const node = 'urn:xmpp:iot:sensordata/kitchen@localhost';

  beforeAll(async () => {
    server = await startProsody({
      pubsubComponent: true,
      // Prosody 0.12 lets only admins create nodes on a pubsub component.
      admins: ['kitchen@localhost'],
      accounts: [
        { username: 'kitchen', password: 'agent-secret' },
        { username: 'alice', password: 'alice-secret' },
        { username: 'mallory', password: 'mallory-secret' },
      ],
    });
    owner = await startClient(server, 'alice', 'alice-secret');
    stranger = await startClient(server, 'mallory', 'mallory-secret');
    agent = await startAgent(
      agentConfig(server, {
        username: 'kitchen',
        password: 'agent-secret',
        owners: ['alice@localhost'],
        store: `${dir.path}/kitchen.db`,
        extraYaml: 'publish: { service: pubsub.localhost }',
        devicesYaml: `
  - id: host
    type: system
    interval: 200ms`,
      }),
    );
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await owner?.stop();
    await stranger?.stop();
    await server?.stop();
    dir.remove();
  });

  const subscribe = (client: TestClient) =>
    client.transport.request(
      xml(
        'iq',
        { type: 'set', to: 'pubsub.localhost' },
        xml('pubsub', { xmlns: NS.pubsub }, xml('subscribe', { node, jid: `${client.transport.bareJid}` })),
      ),
    );

  it('creates a whitelisted node named after the agent; an owner subscribes and receives readings', async () => {
    await waitFor('the node to exist (first publish acknowledged)', () => agent.status().published > 0);
    await subscribe(owner);
    const before = owner.notifications.length;
    await waitFor('notifications from the service', () => owner.notifications.length >= before + 2);
    expect(owner.notifications.at(-1)).toMatchObject({ from: 'pubsub.localhost', node, itemId: 'host' });
    expect(agent.store.outboxDepth()).toBeLessThan(3);
  });

  it('refuses a stranger the subscription (whitelist access model)', async () => {
    await expect(subscribe(stranger)).rejects.toMatchObject({
      condition: expect.stringMatching(/not-allowed|forbidden|not-authorized/),
    });
    expect(stranger.notifications).toEqual([]);
  });
});
