import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import { NS_DISCOVERY } from '../../src/iot/discovery.js';
import { capsVer, parseDiscoInfo } from '../../src/xmpp/disco.js';
import { NS } from '../../src/xmpp/ns.js';
import { startClient, type TestClient, tempDir, testLogger, waitFor } from '../helpers/agent.js';
import { hubLink, registryHubConfig } from '../helpers/hub-modes.js';
import { servers } from '../helpers/servers.js';

/**
 * What differs when the hub is a plain account (README "Fleet: claiming and permissions", account mode): it is reached at its
 * full JID, found through presence; its bare JID is the server's to answer.
 */
describe.each(servers())('the hub as a plain account (%s)', (kind) => {
  const link = hubLink('account');
  const dir = tempDir();
  let server: XmppServer;
  let hub: Hub;
  let thing: TestClient;

  beforeAll(async () => {
    server = await startServer(kind, {
      accounts: [...link.serverOptions.accounts, { username: 'thing', password: 'thing-pw' }],
    });
    hub = createHub(registryHubConfig(link.xmpp(server), dir.path, 5), { log: testLogger() });
    await hub.start();
    thing = await startClient(server, 'thing', 'thing-pw');
  });

  afterAll(async () => {
    await thing?.stop();
    await hub?.stop();
    await server?.stop();
    dir.remove();
  });

  it('answers a directed presence to its bare JID from its full JID, with caps matching its disco#info', async () => {
    const address = await link.address(thing.transport);
    expect(address).toBe(`${link.jid}/hub`);
    const answer = thing.presences.find((p) => p.attrs.from === address && !p.attrs.type);
    const c = answer?.getChild('c', NS.caps);
    expect(c?.attrs.node).toMatch(/#hub$/);
    const info = await thing.transport.request(
      xml('iq', { type: 'get', to: address }, xml('query', { xmlns: NS.discoInfo })),
    );
    const { identities, features } = parseDiscoInfo(info.getChild('query') as Element);
    expect(features).toContain(NS_DISCOVERY);
    expect(identities).toEqual([{ category: 'client', type: 'bot', name: 'xmpp-iot hub' }]);
    expect(c?.attrs.ver).toBe(capsVer(identities, features));
  });

  it("leaves its bare JID to the server: disco#info there is the account's, a registry IQ there is refused", async () => {
    // Prosody and ejabberd answer it only to contacts (service-unavailable, subscription-required); either way the
    // registry's feature is not there: things and operators ask the full JID.
    const info = await thing.transport
      .request(xml('iq', { type: 'get', to: link.jid }, xml('query', { xmlns: NS.discoInfo })))
      .catch((err: { condition?: string }) => err);
    if ('condition' in info) expect(info.condition).toMatch(/^(service-unavailable|subscription-required)$/);
    else
      expect(parseDiscoInfo((info as Element).getChild('query') as Element).features).not.toContain(
        NS_DISCOVERY,
      );
    await expect(
      thing.transport.request(
        xml('iq', { type: 'set', to: link.jid }, xml('register', { xmlns: NS_DISCOVERY })),
      ),
    ).rejects.toMatchObject({
      condition: expect.stringMatching(/service-unavailable|feature-not-implemented/),
    });
  });

  it('approves a subscription without asking for one back; its next login reaches the subscriber', async () => {
    const rosterItem = async () =>
      (await thing.transport.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' }))))
        .getChild('query')
        ?.getChildren('item')
        .find((i) => i.attrs.jid === link.jid);
    // Reading the roster first makes this session "interested" (RFC 6121 §2.1.6), as an agent's is.
    expect(await rosterItem()).toBeUndefined();
    const before = thing.presences.length;
    await thing.transport.send(xml('presence', { type: 'subscribe', to: link.jid }));
    await waitFor('subscribed', () =>
      thing.presences.slice(before).find((p) => p.attrs.type === 'subscribed'),
    );
    expect((await rosterItem())?.attrs.subscription).toBe('to');
    expect(thing.presences.slice(before).some((p) => p.attrs.type === 'subscribe')).toBe(false);
    // A restarted hub announces itself to its subscribers: a thing learns where it is without asking.
    await hub.transport.stop();
    await waitFor('the hub unavailable', () =>
      thing.presences.find(
        (p, i) => i >= before && p.attrs.type === 'unavailable' && p.attrs.from === `${link.jid}/hub`,
      ),
    );
    const mark = thing.presences.length;
    await hub.transport.start();
    await waitFor('the hub presence again', () =>
      thing.presences.slice(mark).find((p) => p.attrs.from === `${link.jid}/hub` && !p.attrs.type),
    );
  });
});
