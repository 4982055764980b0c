/**
 * An owner on an ordinary XMPP client (Conversations, Profanity, Gajim): +notify in its caps, it approves the
 * agent's subscription request and asks back, and sends no presence of its own after its first one. Our own
 * client (src/operator/sensor-client.ts) sends a directed presence when a subscription is approved, which
 * hid that on ejabberd such an owner received no readings at all until its next presence change: ejabberd
 * learns a contact's caps only from a presence that arrives while the contact is subscribed to us.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createDisco } from '../../src/xmpp/disco.js';
import { NS } from '../../src/xmpp/ns.js';
import { createTransport, type Transport } from '../../src/xmpp/transport.js';
import { agentConfig, startAgent, tempDir, testLogger, waitFor } from '../helpers/agent.js';
import { servers } from '../helpers/servers.js';

interface PlainClient {
  transport: Transport;
  /** PEP notifications received, by item id. */
  readings: string[];
}

async function startPlainClient(
  server: XmppServer,
  username: string,
  agentJid: string,
): Promise<PlainClient> {
  const transport = createTransport(
    {
      service: server.service,
      domain: server.domain,
      username,
      password: `${username}-pw`,
      resource: 'phone',
    },
    testLogger(),
  );
  const disco = createDisco(transport, {
    identity: { category: 'client', type: 'phone', name: 'an ordinary client' },
    features: [`${NS.sensordata}+notify`],
    capsNode: 'https://example.org/ordinary-client',
  });
  const readings: string[] = [];
  transport.on('stanza', (s: Element) => {
    if (s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === agentJid) {
      // What a user's "Allow, and add to contacts" does: approve, and ask back.
      void transport.send(xml('presence', { to: agentJid, type: 'subscribed' }));
      void transport.send(xml('presence', { to: agentJid, type: 'subscribe' }));
    }
    const items = s.is('message') ? s.getChild('event', NS.pubsubEvent)?.getChild('items') : undefined;
    for (const item of items?.getChildren('item') ?? []) readings.push(item.attrs.id as string);
  });
  transport.on('online', () => void transport.send(xml('presence', {}, disco.caps())));
  await transport.start();
  return { transport, readings };
}

describe.each(servers())('an owner on an ordinary XMPP client (%s)', (kind) => {
  let server: XmppServer;
  const agents: Agent[] = [];
  const clients: PlainClient[] = [];
  const dir = tempDir();

  beforeAll(async () => {
    server = await startServer(kind, {
      accounts: ['hall', 'alice', 'shed', 'bob'].map((u) => ({ username: u, password: `${u}-pw` })),
    });
  });
  afterAll(async () => {
    for (const a of agents) await a.stop({ drainMs: 0 }).catch(() => undefined);
    for (const c of clients) await c.transport.stop();
    await server?.stop();
    dir.remove();
  });

  const agent = async (username: string, owner: string) => {
    const a = await startAgent(
      agentConfig(server, {
        username,
        password: `${username}-pw`,
        owners: [`${owner}@localhost`],
        store: `${dir.path}/${username}.db`,
        devicesYaml: '  - { id: host, type: system, interval: 300ms }',
      }),
    );
    agents.push(a);
    return a;
  };
  /** Readings that keep coming: more than a few in 3 s, after the friendship settled. */
  const receivesReadings = async (client: PlainClient) => {
    await waitFor('a first reading', () => client.readings.length > 0);
    const before = client.readings.length;
    await new Promise((r) => setTimeout(r, 3000));
    expect(client.readings.length - before).toBeGreaterThanOrEqual(3);
  };

  it('receives the readings when it was online as the agent first logged in (the agent asks first)', async () => {
    const client = await startPlainClient(server, 'alice', 'hall@localhost');
    clients.push(client);
    await agent('hall', 'alice');
    await receivesReadings(client);
  });

  it('receives the readings when it asked before the agent ever logged in', async () => {
    const client = await startPlainClient(server, 'bob', 'shed@localhost');
    clients.push(client);
    await client.transport.send(xml('presence', { to: 'shed@localhost', type: 'subscribe' }));
    await agent('shed', 'bob');
    await receivesReadings(client);
  });
});
