import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import { NS_DISCOVERY } from '../../src/iot/discovery.js';
import { bareOf } from '../../src/xmpp/jid.js';
import { startClient, type TestClient, tempDir, testLogger } from '../helpers/agent.js';
import { hubCases, hubLink, registryHubConfig } from '../helpers/hub-modes.js';
import { requireXmllint } from '../helpers/requirements.js';
import { SCHEMAS, validateElement, validateStanza, validateXml } from '../helpers/xsd.js';

/** What kind of answer a stanza from the registry is: `result:found`, `set:claimed`, `error:item-not-found`… */
function kindOf(stanza: Element): string {
  const type = stanza.attrs.type as string;
  if (type === 'error') {
    const condition = stanza
      .getChild('error')
      ?.getChildElements()
      .find((c) => c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas' && c.name !== 'text');
    return `error:${condition?.name ?? '?'}`;
  }
  const payload = stanza.getChildElements()[0];
  return `${type}:${payload ? payload.name : 'empty'}`;
}

describe.skipIf(!requireXmllint())('the XEP schemas, checked by xmllint', () => {
  it('accept a valid answer and refuse broken ones (the checker can fail)', async () => {
    const found = xml(
      'found',
      { xmlns: NS_DISCOVERY, more: 'false' },
      xml('thing', { owner: 'o@x', jid: 't@x' }),
    );
    expect(await validateElement(found)).toEqual([]);
    expect(await validateElement(xml('found', { xmlns: NS_DISCOVERY, more: 'maybe' }))).not.toEqual([]);
    expect(await validateElement(xml('claimed', { xmlns: NS_DISCOVERY }))).not.toEqual([]);
    const noCondition = xml('iq', { type: 'error' }, xml('error', { type: 'cancel' }));
    expect(await validateStanza(noCondition)).not.toEqual([]);
    expect(await validateElement(xml('unknown', { xmlns: 'urn:example' }))).toEqual([
      '<unknown/>: no schema for namespace urn:example',
    ]);
  });

  it('cover the provisioning answers the hub will send (XEP-0324)', async () => {
    const NS_PROV = 'urn:xmpp:iot:provisioning';
    for (const answer of [
      xml('isFriendResponse', { xmlns: NS_PROV, jid: 'a@b', result: 'true' }),
      xml(
        'canReadResponse',
        { xmlns: NS_PROV, jid: 'a@b', result: 'true', momentary: 'true' },
        xml('field', { name: 'T' }),
      ),
      xml('canControlResponse', { xmlns: NS_PROV, jid: 'a@b', result: 'false' }),
      xml('clearCache', { xmlns: NS_PROV }),
      xml('unfriend', { xmlns: NS_PROV, jid: 'a@b' }),
    ])
      expect(await validateElement(answer), answer.toString()).toEqual([]);
    expect(await validateElement(xml('isFriendResponse', { xmlns: NS_PROV, jid: 'a@b' }))).not.toEqual([]);
  });

  it('compile, XEP-0324 with XEP-0323 imported', async () => {
    for (const schema of Object.values(SCHEMAS))
      expect(await validateXml('<nothing/>', schema)).toEqual([
        expect.stringContaining('No matching global declaration available for the validation root'),
      ]);
  });
});

/**
 * Every kind of answer the hub's registry sends, captured on the things' and owners' side of a real server and
 * validated against the XEP-0347 schema (errors against RFC 6120's stanza error shape).
 */
describe.skipIf(!requireXmllint()).each(hubCases())(
  'the registry answers, against the XEP-0347 schema (%s, %s hub)',
  (kind, mode) => {
    const link = hubLink(mode);
    const dir = tempDir();
    let server: XmppServer;
    let hub: Hub;
    const clients: Record<string, TestClient> = {};
    const captured: Element[] = [];

    const iq = async (who: string, type: 'get' | 'set', payload: Element) => {
      const transport = (clients[who] as TestClient).transport;
      return transport.request(xml('iq', { type, to: await link.address(transport) }, payload));
    };
    const tags = (...list: [string, string, string][]) =>
      list.map(([k, name, value]) => xml(k, { name, value }));
    const d = (name: string, attrs: Record<string, string> = {}, ...children: Element[]) =>
      xml(name, { xmlns: NS_DISCOVERY, ...attrs }, ...children);

    beforeAll(async () => {
      server = await startServer(kind, {
        components: link.serverOptions.components,
        accounts: [
          ...link.serverOptions.accounts,
          ...['thing', 'other', 'owner', 'stranger'].map((u) => ({ username: u, password: `${u}-pw` })),
        ],
      });
      hub = createHub(registryHubConfig(link.xmpp(server), dir.path, 2), { log: testLogger() });
      await hub.start();
      for (const u of ['thing', 'other', 'owner', 'stranger']) {
        const c = await startClient(server, u, `${u}-pw`);
        c.transport.on('stanza', (s: Element) => {
          if (s.is('iq') && s.attrs.from && bareOf(s.attrs.from as string) === link.jid) captured.push(s);
        });
        for (const name of ['claimed', 'removed', 'disowned'])
          c.transport.handleIq('set', NS_DISCOVERY, name, () => true);
        clients[u] = c;
      }
    });

    afterAll(async () => {
      for (const c of Object.values(clients)) await c.stop();
      await hub?.stop();
      await server?.stop();
      dir.remove();
    });

    it('captures every kind of answer and each is valid', async () => {
      const code = tags(['str', 'ROOM', 'lab'], ['num', 'FLOOR', '1.5'], ['str', 'KEY', 'k1']);
      const fail = (p: Promise<unknown>) => p.catch(() => undefined);
      await iq('thing', 'set', d('register', {}, ...code)); // result:empty
      await fail(iq('thing', 'set', d('register', {}, ...tags(['str', 'A:B', 'x'])))); // error:bad-request
      await fail(iq('stranger', 'set', d('mine', {}, ...tags(['str', 'KEY', 'nope'])))); // error:item-not-found
      await fail(iq('stranger', 'set', d('mine', {}, ...tags(['str', 'KEY', 'nope2']))));
      await fail(iq('stranger', 'set', d('mine', {}, ...tags(['str', 'KEY', 'nope3'])))); // error:policy-violation
      await iq('owner', 'set', d('mine', {}, ...code)); // result:claimed, and set:claimed to the thing
      await iq('thing', 'set', d('register', {}, ...code)); // result:claimed (already owned)
      await iq('stranger', 'get', d('search', {}, xml('strEq', { name: 'ROOM', value: 'lab' }))); // result:found
      await iq(
        'stranger',
        'get',
        d('search', { offset: '5', maxCount: '1' }, xml('numGt', { name: 'FLOOR', value: '0' })),
      );
      await iq('thing', 'set', d('update', {}, ...tags(['str', 'ROOM', 'lab2']))); // result:empty
      await iq('owner', 'set', d('update', { jid: 'thing@localhost' }, ...tags(['num', 'FLOOR', '2'])));
      await iq('owner', 'set', d('disown', { jid: 'thing@localhost' })); // set:disowned, then result:empty
      await iq('thing', 'set', d('update', {}, ...tags(['str', 'ROOM', 'x']))); // result:disowned
      await iq('other', 'set', d('register', {}, ...tags(['str', 'KEY', 'k2'])));
      await iq('owner', 'set', d('mine', { public: 'false' }, ...tags(['str', 'KEY', 'k2'])));
      await iq('owner', 'set', d('remove', { jid: 'other@localhost' })); // set:removed, then result:empty
      await fail(iq('owner', 'set', d('remove', { jid: 'other@localhost' }))); // error:item-not-found
      await iq('other', 'set', d('unregister')); // result:empty
      await iq('other', 'set', d('register', {}, ...tags(['str', 'KEY', 'k3'])));
      await iq('owner', 'set', d('mine', {}, ...tags(['str', 'KEY', 'k3'])));
      await clients.other?.stop(); // offline: it cannot acknowledge
      await fail(iq('owner', 'set', d('disown', { jid: 'other@localhost' }))); // error:not-allowed
      await fail(iq('stranger', 'get', d('search', { maxCount: 'many' }))); // error:bad-request

      const kinds = new Set(captured.map(kindOf));
      expect([...kinds].sort()).toEqual(
        [
          'error:bad-request',
          'error:item-not-found',
          'error:not-allowed',
          'error:policy-violation',
          'result:claimed',
          'result:disowned',
          'result:empty',
          'result:found',
          'set:claimed',
          'set:disowned',
          'set:removed',
        ].sort(),
      );
      for (const stanza of captured)
        expect(await validateStanza(stanza), `${kindOf(stanza)}: ${stanza.toString()}`).toEqual([]);
    });
  },
);
