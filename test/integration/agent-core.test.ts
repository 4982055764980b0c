import { xml } from '@xmpp/client';
import { describe, expect, it } from 'vitest';
import { capsVer, parseDiscoInfo } from '../../src/xmpp/disco.js';
import { NS } from '../../src/xmpp/ns.js';
import { XmppStanzaError } from '../../src/xmpp/transport.js';
import { waitFor } from '../helpers/agent.js';
import { useAgentFixture } from '../helpers/agent-fixture.js';
import { servers } from '../helpers/servers.js';

describe.each(servers())('agent core against a real server (%s)', (kind) => {
  const fx = useAgentFixture({
    server: kind,
    accounts: { kitchen: 'agent-secret', alice: 'alice-secret', mallory: 'mallory-secret' },
    clients: {
      owner: { username: 'alice', approve: ['kitchen@localhost'] },
      stranger: { username: 'mallory' },
    },
    agent: {
      username: 'kitchen',
      owners: ['alice@localhost'],
      devicesYaml: `
  - id: host
    type: system
    interval: 300ms
  - id: host2
    type: system
    interval: 1h`,
    },
    subscribe: ['owner', 'stranger'],
  });

  it('lists urn:xmpp:iot:sensordata in disco#info, and the caps ver in its presence verifies', async () => {
    const result = await fx.owner.transport.request(
      xml('iq', { type: 'get', to: fx.jid }, xml('query', { xmlns: NS.discoInfo })),
    );
    const info = parseDiscoInfo(result.getChild('query') as never);
    expect(info.features).toContain('urn:xmpp:iot:sensordata');
    expect(info.features).toContain(NS.discoInfo);
    expect(info.identities).toEqual([{ category: 'client', type: 'bot', name: 'xmpp-iot agent' }]);
    const presence = await waitFor('available presence with caps from the agent', () =>
      fx.owner.presences.find((p) => p.attrs.from === fx.jid && !p.attrs.type && p.getChild('c', NS.caps)),
    );
    const c = presence.getChild('c', NS.caps);
    expect(c?.attrs.hash).toBe('sha-1');
    expect(c?.attrs.ver).toBe(capsVer(info.identities, info.features));
    // The caps node#ver form of the query answers the same.
    const again = await fx.owner.transport.request(
      xml(
        'iq',
        { type: 'get', to: fx.jid },
        xml('query', { xmlns: NS.discoInfo, node: `${c?.attrs.node}#${c?.attrs.ver}` }),
      ),
    );
    expect(parseDiscoInfo(again.getChild('query') as never).features).toEqual(info.features);
  });

  it('lists one disco item per device to an owner and refuses the list to a stranger', async () => {
    const items = await fx.owner.transport.request(
      xml('iq', { type: 'get', to: fx.jid }, xml('query', { xmlns: NS.discoItems })),
    );
    expect(
      items
        .getChild('query')
        ?.getChildren('item')
        .map((i) => i.attrs.node),
    ).toEqual(['host', 'host2']);
    await expect(
      fx.stranger.transport.request(
        xml('iq', { type: 'get', to: fx.jid }, xml('query', { xmlns: NS.discoItems })),
      ),
    ).rejects.toMatchObject({ condition: 'forbidden' });
  });

  it('answers a momentary readout of an owner with accepted, then every momentary field and done', async () => {
    const result = await fx.owner.sensors.readout(fx.jid, { types: ['momentary'], nodes: ['host'] });
    expect(result.accepted).toBe(true);
    expect(result.done).toBe(true);
    const names = result.fields.map((f) => f.name);
    for (const n of ['load1', 'load5', 'load15', 'memAvailable', 'memUsed', 'uptime'])
      expect(names).toContain(n);
    expect(names).not.toContain('hostname'); // identity, not momentary
    const load1 = result.fields.find((f) => f.name === 'load1');
    expect(load1).toMatchObject({
      nodeId: 'host',
      type: 'numeric',
      unit: '',
      flags: ['momentary'],
      qos: ['automaticReadout'],
    });
    expect(Number.isFinite(Number(load1?.value))).toBe(true);
  });

  it('filters by field name and by field type', async () => {
    const result = await fx.owner.sensors.readout(fx.jid, {
      types: ['identity'],
      fields: ['hostname', 'load1'],
    });
    expect(result.fields.map((f) => `${f.nodeId}:${f.name}`).sort()).toEqual([
      'host2:hostname',
      'host:hostname',
    ]);
  });

  it('refuses a stranger with forbidden, an unknown node with item-not-found, a malformed req with bad-request', async () => {
    await expect(fx.stranger.sensors.readout(fx.jid, { types: ['momentary'] })).rejects.toMatchObject({
      condition: 'forbidden',
    });
    await expect(fx.owner.sensors.readout(fx.jid, { nodes: ['nope'] })).rejects.toMatchObject({
      condition: 'item-not-found',
    });
    const bad = fx.owner.transport.request(
      xml('iq', { type: 'get', to: fx.jid }, xml('req', { xmlns: NS.sensordata, seqnr: 'x' })),
    );
    await expect(bad).rejects.toBeInstanceOf(XmppStanzaError);
    await expect(bad).rejects.toMatchObject({ condition: 'bad-request' });
  });

  it('queues a readout with when, sends started, and cancels another', async () => {
    const when = new Date(Date.now() + 600);
    const result = await fx.owner.sensors.readout(fx.jid, { nodes: ['host'], when, types: ['momentary'] });
    expect(result).toMatchObject({ queued: true, started: true, done: true });
    expect(Math.min(...result.fields.map((f) => f.timestamp))).toBeGreaterThanOrEqual(when.getTime() - 5);

    const later = fx.owner.sensors.readout(fx.jid, {
      nodes: ['host'],
      when: new Date(Date.now() + 60_000),
      timeoutMs: 3000,
    });
    later.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const seqnr = fx.owner.sensors.lastSeqnr;
    await fx.owner.sensors.cancel(fx.jid, seqnr);
    await expect(fx.owner.sensors.cancel(fx.jid, seqnr)).rejects.toMatchObject({
      condition: 'item-not-found',
    });
  });

  it('pushes readings to an owner over PEP and none to a stranger', async () => {
    const before = fx.owner.notifications.length;
    await waitFor('three PEP notifications', () => fx.owner.notifications.length >= before + 3);
    const n = fx.owner.notifications.at(-1);
    expect(n).toMatchObject({ from: 'kitchen@localhost', node: 'urn:xmpp:iot:sensordata', itemId: 'host' });
    expect(n?.fields.some((f) => f.name === 'load1')).toBe(true);
    expect(fx.stranger.notifications).toEqual([]);
    // The stranger cannot fetch the items either.
    await expect(
      fx.stranger.transport.request(
        xml(
          'iq',
          { type: 'get', to: 'kitchen@localhost' },
          xml('pubsub', { xmlns: NS.pubsub }, xml('items', { node: NS.sensordata })),
        ),
      ),
    ).rejects.toBeInstanceOf(XmppStanzaError);
  });

  it('serves a historical readout with exactly the stored readings inside the window', async () => {
    await waitFor(
      'five stored readings',
      () => fx.agent.store.history({ deviceIds: ['host'], limit: 100 }).length >= 6,
    );
    const all = fx.agent.store.history({ deviceIds: ['host'], limit: 1000 });
    const from = all[1]!.timestamp;
    const to = all[4]!.timestamp;
    const result = await fx.owner.sensors.readout(fx.jid, {
      nodes: ['host'],
      types: ['historicalOther'],
      from: new Date(from),
      to: new Date(to),
      fields: ['uptime'],
    });
    const got = result.fields.map((f) => f.timestamp);
    const expected = all.filter((r) => r.timestamp >= from && r.timestamp <= to).map((r) => r.timestamp);
    expect(got).toEqual(expected);
    expect(expected.length).toBeGreaterThanOrEqual(4);
    expect(result.fields.every((f) => f.flags.includes('historicalOther') && f.name === 'uptime')).toBe(true);
  });
});
