import { xml } from '@xmpp/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import type { Agent } from '../../src/agent/agent.js';
import { createControlClient } from '../../src/operator/control-client.js';
import { NS } from '../../src/xmpp/ns.js';
import { NS_PROVISIONING } from '../../src/iot/provisioning.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { memoryActuator, memoryActuatorState, memoryActuatorWrites } from '../helpers/fake-devices.js';
import { startProvisioningServer, type TestProvisioningServer } from '../helpers/provisioning-server.js';
import { servers } from '../helpers/servers.js';

/** A client's roster subscription state for `jid` (or its pending `ask` with `ask = true`). */
async function subscription(client: TestClient, jid: string, ask = false): Promise<string | undefined> {
  const r = await client.transport.request(
    xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })),
  );
  const item = r
    .getChild('query')
    ?.getChildren('item')
    .find((i) => i.attrs.jid === jid);
  return ask
    ? (item?.attrs.ask as string | undefined)
    : ((item?.attrs.subscription as string | undefined) ?? 'none');
}

describe.each(servers())('XEP-0324 provisioning, thing side (%s)', (kind) => {
  let server: XmppServer;
  let agent: Agent | undefined;
  let prov: TestProvisioningServer;
  let carol: TestClient;
  let dave: TestClient;
  let mallory: TestClient;
  const dir = tempDir();
  const store = `${dir.path}/hall.db`;
  let jid: string;

  const config = () =>
    agentConfig(server, {
      username: 'hall',
      password: 'hall-pw',
      owners: ['alice@localhost'],
      store,
      extraDefinitions: [memoryActuator],
      extraYaml: 'provisioning: { servers: [prov@localhost] }',
      devicesYaml: `
  - id: relay
    type: memory_actuator
  - id: host
    type: system
    interval: 1h`,
    });

  beforeAll(async () => {
    server = await startServer(kind, {
      accounts: ['hall', 'prov', 'carol', 'dave', 'mallory', 'alice'].map((u) => ({
        username: u,
        password: `${u}-pw`,
      })),
    });
    prov = await startProvisioningServer(server, 'prov', 'prov-pw');
    carol = await startClient(server, 'carol', 'carol-pw', { approve: ['hall@localhost'] });
    dave = await startClient(server, 'dave', 'dave-pw', { approve: ['hall@localhost'] });
    mallory = await startClient(server, 'mallory', 'mallory-pw', { approve: ['prov@localhost'] });
    prov.rules.friends.add('carol@localhost');
    prov.rules.read.set('carol@localhost', { fields: ['load1', 'state'] });
    prov.rules.control.set('carol@localhost', { parameters: ['state'] });
    prov.rules.read.set('dave@localhost', true);
    agent = await startAgent(config());
    jid = agent.transport.jid as string;
    await waitFor('the agent to see the provisioning server online', () =>
      prov.transport.jid ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 300));
  });

  beforeEach(() => {
    memoryActuatorState.clear();
    memoryActuatorWrites.length = 0;
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    for (const c of [carol, dave, mallory]) await c?.stop();
    await prov?.stop();
    await server?.stop();
    dir.remove();
  });

  it('asks isFriend for an unknown subscription and accepts or refuses as told', async () => {
    await carol.sensors.subscribe('hall@localhost');
    await mallory.sensors.subscribe('hall@localhost');
    await waitFor(
      'both questions',
      () => prov.questions.filter((q) => q.kind === 'isFriend').length >= 2 || undefined,
    );
    await waitFor(
      'carol a friend both ways',
      async () => (await subscription(carol, 'hall@localhost')) === 'both',
    );
    // Refused: no subscription to the agent's presence (and so none to its PEP readings), nothing pending.
    expect(await subscription(mallory, 'hall@localhost')).toMatch(/^(none|from)$/);
    expect(await subscription(mallory, 'hall@localhost', true)).toBeUndefined();
  });

  it('serves a non-owner readout narrowed by canRead, forwarding tokens', async () => {
    const r = await carol.transport.request(
      xml(
        'iq',
        { type: 'get', to: jid },
        xml('req', { xmlns: NS.sensordata, seqnr: '7', momentary: 'true', userToken: 'u-123' }),
      ),
    );
    expect(r.getChild('accepted')).toBeDefined();
    const result = await carol.sensors.readout(jid, { types: ['momentary'] });
    expect([...new Set(result.fields.map((f) => f.name))].sort()).toEqual(['load1', 'state']);
    expect(prov.questions.find((q) => q.kind === 'canRead' && q.tokens.userToken === 'u-123')).toBeDefined();
  });

  it('refuses a readout the provisioning server refuses', async () => {
    await expect(mallory.sensors.readout(jid, { types: ['momentary'] })).rejects.toMatchObject({
      condition: 'forbidden',
    });
  });

  it('applies only the parameters canControl allows and reports the narrowing in setResponse', async () => {
    const answer = await carol.transport.request(
      xml(
        'iq',
        { type: 'set', to: jid },
        xml(
          'set',
          { xmlns: NS.control },
          xml('node', { nodeId: 'relay' }),
          xml('boolean', { name: 'state', value: 'true' }),
          xml('int', { name: 'level', value: '5' }),
        ),
      ),
    );
    expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { state: true } }]);
    const response = answer.getChild('setResponse', NS.control);
    expect(response?.getChildren('parameter').map((p) => p.attrs.name)).toEqual(['state']);
    expect(response?.getChildren('node').map((n) => n.attrs.nodeId)).toEqual(['relay']);
    // Someone the server does not allow to control is refused.
    await expect(
      createControlClient(dave.transport).set(
        jid,
        [{ name: 'state', type: 'boolean', value: true }],
        ['relay'],
      ),
    ).rejects.toMatchObject({
      condition: 'forbidden',
    });
    expect(memoryActuatorWrites).toHaveLength(1);
  });

  it('caches decisions in the store, across a restart, until clearCache from the trusted server empties it', async () => {
    const asked = prov.questions.filter((q) => q.kind === 'canRead' && q.jid === 'dave@localhost').length;
    await dave.sensors.readout(jid, { types: ['momentary'], nodes: ['host'] });
    await dave.sensors.readout(jid, { types: ['momentary'], nodes: ['host'] });
    expect(prov.questions.filter((q) => q.kind === 'canRead' && q.jid === 'dave@localhost')).toHaveLength(
      asked + 1,
    );

    // A restart keeps the cache: the server is not asked again, even after it changed its mind.
    await agent?.stop({ drainMs: 0 });
    prov.rules.read.delete('dave@localhost');
    agent = await startAgent(config());
    jid = agent.transport.jid as string;
    await new Promise((r) => setTimeout(r, 300));
    await dave.sensors.readout(jid, { types: ['momentary'], nodes: ['host'] });
    expect(prov.questions.filter((q) => q.kind === 'canRead' && q.jid === 'dave@localhost')).toHaveLength(
      asked + 1,
    );

    // clearCache from a stranger is refused; from the server it empties the cache.
    await expect(
      mallory.transport.request(
        xml('iq', { type: 'set', to: jid }, xml('clearCache', { xmlns: NS_PROVISIONING })),
      ),
    ).rejects.toMatchObject({ condition: 'forbidden' });
    const cleared = await prov.clearCache(jid);
    expect(cleared.getChild('clearCacheResponse', NS_PROVISIONING)).toBeDefined();
    await expect(dave.sensors.readout(jid, { types: ['momentary'], nodes: ['host'] })).rejects.toMatchObject({
      condition: 'forbidden',
    });
  });

  it('honours unfriend only from the trusted server', async () => {
    // carol is a friend (isFriend true); mallory's "unfriend" is ignored.
    await mallory.transport.send(
      xml('message', { to: jid }, xml('unfriend', { xmlns: NS_PROVISIONING, jid: 'carol@localhost' })),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(await subscription(carol, 'hall@localhost')).toBe('both');
    await prov.unfriend(jid, 'carol@localhost');
    await waitFor('carol unfriended', async () => (await subscription(carol, 'hall@localhost')) === 'none');
  });
});
