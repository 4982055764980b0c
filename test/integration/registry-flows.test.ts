import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import { NS_DISCOVERY } from '../../src/iot/discovery.js';
import type { Agent } from '../../src/agent/agent.js';
import {
  agentConfig,
  startAgent,
  startClient,
  type TestClient,
  tempDir,
  testLogger,
  waitFor,
} from '../helpers/agent.js';
import { captureLogger } from '../helpers/log-capture.js';
import { hubCases, hubLink, registryHubConfig } from '../helpers/hub-modes.js';

/**
 * Things and owners as raw clients: every XEP-0347 request of the registry, and what it sends to things; with
 * the hub as a component and as a plain account.
 */
describe.each(hubCases())('XEP-0347 registry flows (%s, %s hub)', (kind, mode) => {
  const link = hubLink(mode);
  const REGISTRY = link.jid;
  const dir = tempDir();
  let server: XmppServer;
  let hub: Hub;
  const clients: Record<string, TestClient> = {};
  const notices: Record<string, string[]> = {};

  const addresses: Record<string, string> = {};
  const iq = async (who: string, type: 'get' | 'set', payload: Element) => {
    const transport = (clients[who] as TestClient).transport;
    addresses[who] ??= await link.address(transport);
    return transport.request(xml('iq', { type, to: addresses[who] }, payload));
  };
  const el = (name: string, attrs: Record<string, string>, ...tags: [string, string, string][]) =>
    xml(name, { xmlns: NS_DISCOVERY, ...attrs }, ...tags.map(([k, n, v]) => xml(k, { name: n, value: v })));
  const search = async (attrs: Record<string, string>, ...ops: Element[]) => {
    const found = (
      await iq('owner', 'get', xml('search', { xmlns: NS_DISCOVERY, ...attrs }, ...ops))
    ).getChild('found', NS_DISCOVERY) as Element;
    return {
      more: found.attrs.more,
      jids: found.getChildren('thing').map((t) => t.attrs.jid as string),
      things: found.getChildren('thing'),
    };
  };

  const newHub = () => createHub(registryHubConfig(link.xmpp(server), dir.path, 10), { log: testLogger() });
  let agent: Agent | undefined;

  beforeAll(async () => {
    server = await startServer(kind, {
      components: link.serverOptions.components,
      accounts: [
        ...link.serverOptions.accounts,
        ...['t1', 't2', 't3', 'owner', 'late'].map((u) => ({ username: u, password: `${u}-pw` })),
      ],
    });
    hub = newHub();
    await hub.start();
    for (const u of ['t1', 't2', 't3', 'owner']) {
      const c = await startClient(server, u, `${u}-pw`);
      notices[u] = [];
      for (const name of ['claimed', 'removed', 'disowned'])
        c.transport.handleIq('set', NS_DISCOVERY, name, () => {
          notices[u]?.push(name);
          return true;
        });
      clients[u] = c;
    }
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    for (const c of Object.values(clients)) await c.stop();
    await hub?.stop();
    await server?.stop();
    dir.remove();
  });

  it.each([
    ['a name longer than 32 characters', ['str', 'N'.repeat(33), 'x'], 'longer than 32'],
    ['a value longer than 128 characters', ['str', 'ROOM', 'v'.repeat(129)], 'at most 128'],
    ['":" in a name', ['str', 'A:B', 'x'], "':'"],
  ] as [string, [string, string, string], string][])(
    'refuses a register with %s: bad-request',
    async (_w, tag, text) => {
      await expect(iq('t1', 'set', el('register', {}, tag))).rejects.toMatchObject({
        condition: 'bad-request',
        message: expect.stringContaining(text),
      });
    },
  );

  it('refuses duplicate names (case-insensitive) with bad-request', async () => {
    await expect(
      iq('t1', 'set', el('register', {}, ['str', 'room', 'a'], ['str', 'ROOM', 'b'])),
    ).rejects.toMatchObject({ condition: 'bad-request', message: expect.stringContaining('duplicate') });
  });

  it('claims registered things (public and private), telling each thing', async () => {
    for (const [t, floor] of [
      ['t1', '1'],
      ['t2', '2'],
      ['t3', '3'],
    ] as const) {
      await iq(
        t,
        'set',
        el('register', {}, ['str', 'ROOM', `room-${t}`], ['num', 'FLOOR', floor], ['str', 'KEY', `k-${t}`]),
      );
      const claimed = await iq(
        'owner',
        'set',
        el(
          'mine',
          t === 't3' ? { public: 'false' } : {},
          ['str', 'KEY', `k-${t}`],
          ['num', 'FLOOR', floor],
          ['str', 'ROOM', `room-${t}`],
        ),
      );
      expect(claimed.getChild('claimed', NS_DISCOVERY)?.attrs.jid).toBe(`${t}@localhost`);
    }
    await waitFor(
      'claimed notices',
      () => notices.t1?.includes('claimed') && notices.t3?.includes('claimed'),
    );
  });

  it('answers a claimed thing that registers again with its owner, keeping its tags', async () => {
    const answer = await iq(
      't1',
      'set',
      el('register', {}, ['str', 'ROOM', 'elsewhere'], ['str', 'KEY', 'x']),
    );
    expect(answer.getChild('claimed', NS_DISCOVERY)?.attrs).toMatchObject({
      jid: 'owner@localhost',
      public: 'true',
    });
    expect((await search({}, el('strEq', { name: 'ROOM', value: 'room-t1' }))).jids).toEqual([
      't1@localhost',
    ]);
  });

  it('searches public things only, with offset, maxCount and more', async () => {
    expect((await search({})).jids).toEqual(['t1@localhost', 't2@localhost']);
    expect(await search({ offset: '0', maxCount: '1' })).toMatchObject({
      jids: ['t1@localhost'],
      more: 'true',
    });
    expect(await search({ offset: '1', maxCount: '1' })).toMatchObject({
      jids: ['t2@localhost'],
      more: 'false',
    });
    expect((await search({}, el('numGtEq', { name: 'FLOOR', value: '2' }))).jids).toEqual(['t2@localhost']);
    const [thing] = (await search({}, el('strMask', { name: 'ROOM', value: 'room-t2' }))).things;
    expect(thing?.getChildren('str').map((s) => s.attrs.name)).toEqual(['ROOM']);
    expect(thing?.attrs.owner).toBe('owner@localhost');
  });

  it('updates tags from the thing and from its owner; an empty str deletes one', async () => {
    await iq('t2', 'set', el('update', {}, ['str', 'ROOM', 'attic']));
    await iq('owner', 'set', el('update', { jid: 't2@localhost' }, ['num', 'FLOOR', '9']));
    const [thing] = (await search({}, el('strEq', { name: 'ROOM', value: 'attic' }))).things;
    expect(thing?.getChild('num')?.attrs).toMatchObject({ name: 'FLOOR', value: '9' });
    await iq('t2', 'set', el('update', {}, ['str', 'ROOM', '']));
    expect((await search({}, el('strEq', { name: 'ROOM', value: 'attic' }))).jids).toEqual([]);
    await expect(
      iq('t3', 'set', el('update', { jid: 't2@localhost' }, ['str', 'ROOM', 'x'])),
    ).rejects.toMatchObject({
      condition: 'item-not-found',
    });
  });

  it('removes a thing on its owner request and tells the thing; others get item-not-found', async () => {
    await expect(iq('t3', 'set', el('remove', { jid: 't1@localhost' }))).rejects.toMatchObject({
      condition: 'item-not-found',
    });
    await iq('owner', 'set', el('remove', { jid: 't1@localhost' }));
    expect(notices.t1).toContain('removed');
    expect(hub.store.getThing('t1@localhost')).toBeUndefined();
  });

  it('unregisters a thing (always an empty result)', async () => {
    await iq('t2', 'set', el('unregister', {}));
    expect(hub.store.getThing('t2@localhost')).toBeUndefined();
    expect((await iq('t2', 'set', el('unregister', {}))).attrs.type).toBe('result');
  });

  it('disowns after the thing acknowledges: unclaimed, with a random KEY', async () => {
    await iq('owner', 'set', el('disown', { jid: 't3@localhost' }));
    expect(notices.t3).toContain('disowned');
    const thing = hub.store.getThing('t3@localhost');
    expect(thing?.owner).toBeUndefined();
    expect(thing?.tags.map((t) => t.name)).toEqual(['KEY']);
    expect(thing?.tags[0]?.value).not.toBe('k-t3');
  });

  it('an agent that finds no registry at login registers once it answers', async () => {
    await hub.stop();
    const { log, entries } = captureLogger('info');
    agent = await startAgent(
      agentConfig(server, {
        username: 'late',
        password: 'late-pw',
        owners: [],
        store: `${dir.path}/late.db`,
        extraYaml: `registry: ${REGISTRY}`,
        devicesYaml: '  - { id: host, type: system, interval: 1h }',
      }),
      log,
    );
    await waitFor('the first failure logged', () =>
      entries.find((e) => e.msg === 'could not register with the registry'),
    );
    hub = newHub();
    await hub.start();
    await waitFor('late registered', () => hub.store.getThing('late@localhost'), 20_000);
    expect(entries.filter((e) => e.msg === 'could not register with the registry')).toHaveLength(1);
    await waitFor('the recovery logged', () => entries.find((e) => e.msg === 'the registry answers again'));
  });
});
