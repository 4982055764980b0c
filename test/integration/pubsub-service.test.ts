import { xml } from '@xmpp/client';
import { describe, expect, it } from 'vitest';
import { NS } from '../../src/xmpp/ns.js';
import { type TestClient, waitFor } from '../helpers/agent.js';
import { useAgentFixture } from '../helpers/agent-fixture.js';
import { servers } from '../helpers/servers.js';

describe.each(servers())('publishing to a pubsub service instead of PEP (%s)', (kind) => {
  const fx = useAgentFixture({
    server: kind,
    serverOptions: {
      pubsubComponent: true,
      // Prosody 0.12 lets only admins create nodes on a pubsub component. ejabberd lets any local user, and
      // would exempt an admin from its c2s shaper, which the agent must live with.
      admins: kind === 'prosody' ? ['kitchen@localhost'] : [],
    },
    accounts: { kitchen: 'agent-secret', alice: 'alice-secret', mallory: 'mallory-secret' },
    clients: { owner: { username: 'alice' }, stranger: { username: 'mallory' } },
    agent: {
      username: 'kitchen',
      owners: ['alice@localhost'],
      extraYaml: 'publish: { service: pubsub.localhost }',
      devicesYaml: `
  - id: host
    type: system
    interval: 200ms`,
    },
  });
  const node = 'urn:xmpp:iot:sensordata/kitchen@localhost';

  const subscribe = (client: TestClient) =>
    client.transport.request(
      xml(
        'iq',
        { type: 'set', to: 'pubsub.localhost' },
        xml('pubsub', { xmlns: NS.pubsub }, xml('subscribe', { node, jid: `${client.transport.bareJid}` })),
      ),
    );

  it('creates a whitelisted node named after the agent; an owner subscribes and receives readings', async () => {
    await waitFor('the node to exist (first publish acknowledged)', () => fx.agent.status().published > 0);
    await subscribe(fx.owner);
    const before = fx.owner.notifications.length;
    await waitFor('notifications from the service', () => fx.owner.notifications.length >= before + 2);
    expect(fx.owner.notifications.at(-1)).toMatchObject({ from: 'pubsub.localhost', node, itemId: 'host' });
    expect(fx.agent.store.outboxDepth()).toBeLessThan(3);
  });

  it('refuses a stranger the subscription (whitelist access model)', async () => {
    await expect(subscribe(fx.stranger)).rejects.toMatchObject({
      condition: expect.stringMatching(/not-allowed|forbidden|not-authorized/),
    });
    expect(fx.stranger.notifications).toEqual([]);
  });
});
