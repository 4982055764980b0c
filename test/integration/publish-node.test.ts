/**
 * The PEP node's configuration is ours even when the server created the node (issue 12): ejabberd's PEP nodes
 * keep one item by default, so with item id = device id only the device that published last could be read.
 * Here the node is first created by a plain publish from another resource of the agent's account (server
 * defaults, no publish-options), as an older agent or another client would.
 */
import { xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import type { Agent } from '../../src/agent/agent.js';
import { NS } from '../../src/xmpp/ns.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { servers } from '../helpers/servers.js';

describe.each(servers())('the PEP node of an agent with several devices (%s)', (kind) => {
  let server: XmppServer;
  let owner: TestClient;
  let agent: Agent | undefined;
  const dir = tempDir();

  const itemIds = async () => {
    const result = await owner.transport.request(
      xml(
        'iq',
        { type: 'get', to: 'kitchen@localhost' },
        xml('pubsub', { xmlns: NS.pubsub }, xml('items', { node: NS.sensordata })),
      ),
    );
    const items = result.getChild('pubsub')?.getChild('items')?.getChildren('item') ?? [];
    return items.map((i) => i.attrs.id as string).sort();
  };

  beforeAll(async () => {
    server = await startServer(kind, {
      accounts: [
        { username: 'kitchen', password: 'kitchen-pw' },
        { username: 'alice', password: 'alice-pw' },
      ],
    });
    // The node created by the server on a plain publish, with its defaults.
    const old = await startClient(server, 'kitchen', 'kitchen-pw', { resource: 'old' });
    await old.transport.request(
      xml(
        'iq',
        { type: 'set' },
        xml(
          'pubsub',
          { xmlns: NS.pubsub },
          xml(
            'publish',
            { node: NS.sensordata },
            xml('item', { id: 'stale' }, xml('fields', { xmlns: NS.sensordata, seqnr: '0' })),
          ),
        ),
      ),
    );
    await old.stop();
    owner = await startClient(server, 'alice', 'alice-pw', { approve: ['kitchen@localhost'] });
    agent = await startAgent(
      agentConfig(server, {
        username: 'kitchen',
        password: 'kitchen-pw',
        owners: ['alice@localhost'],
        store: `${dir.path}/kitchen.db`,
        devicesYaml: `
  - { id: hall, type: system, interval: 300ms }
  - { id: attic, type: system, interval: 300ms }
  - { id: cellar, type: system, interval: 300ms }`,
      }),
    );
    await owner.sensors.subscribe('kitchen@localhost');
  });
  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await owner?.stop();
    await server?.stop();
    dir.remove();
  });

  it("keeps every device's latest reading (max_items configured on a node the server created)", async () => {
    const a = agent as Agent;
    await waitFor('a few readings of each device published', () => a.status().published >= 9);
    const ids = await waitFor('the items of all three devices', async () => {
      const got = await itemIds().catch((): string[] => []);
      return ['attic', 'cellar', 'hall'].every((d) => got.includes(d)) && got;
    });
    expect(ids.filter((id) => id !== 'stale')).toEqual(['attic', 'cellar', 'hall']);
  });
});
