/**
 * The hub's provisioning server against a fake transport (the real servers are in
 * test/integration/provisioning-hub.test.ts): limits, timeouts, notices to many things, retries.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { createProvisioningServer, type ProvisioningOptions } from '../../src/hub/provisioning-server.js';
import { type HubStore, openSqliteHubStore } from '../../src/hub/store.js';
import { NS_PROVISIONING } from '../../src/iot/provisioning.js';
import type { IqHandler, Transport } from '../../src/xmpp/transport.js';
import { XmppStanzaError } from '../../src/xmpp/transport.js';

const OWNER = 'alice@example.org';

function fakeTransport() {
  const handlers = new Map<string, IqHandler>();
  const sent: Element[] = [];
  const requests: Element[] = [];
  /** How a thing answers an IQ the hub sends it: undefined = an empty result. */
  let answer: (iq: Element) => string | undefined = () => undefined;
  const transport = {
    jid: 'hub.example.org',
    bareJid: 'hub.example.org',
    online: true,
    start: async () => undefined,
    stop: async () => undefined,
    send: async (stanza: Element) => void sent.push(stanza),
    request: async (iq: Element) => {
      requests.push(iq);
      const condition = answer(iq);
      if (condition) throw new XmppStanzaError(condition, undefined, iq);
      return xml('iq', { type: 'result' });
    },
    handleIq: (type: string, ns: string, name: string, handler: IqHandler) =>
      handlers.set(`${type}|${ns}|${name}`, handler),
    on: () => undefined,
    off: () => undefined,
  } as unknown as Transport;
  return {
    transport,
    sent,
    requests,
    answerWith: (f: typeof answer) => (answer = f),
    async ask(from: string, name: string, jid: string | undefined, ...children: Element[]) {
      const el = xml(name, { xmlns: NS_PROVISIONING, ...(jid ? { jid } : {}) }, ...children);
      const handler = handlers.get(`get|${NS_PROVISIONING}|${name}`) as IqHandler;
      return (await handler(xml('iq', { type: 'get', from }, el), el)) as Element;
    },
  };
}

const result = (answer: Element) => answer.attrs.result;
const chats = (sent: Element[]) => sent.filter((s) => s.attrs.type === 'chat');
const notices = (sent: Element[], name: string) =>
  sent
    .filter((s) => s.getChild(name, NS_PROVISIONING))
    .map((s) => `${s.attrs.to} ${s.getChild(name)?.attrs.jid}`);
const settle = () => new Promise((r) => setTimeout(r, 20));

describe('the hub provisioning server', () => {
  let store: HubStore;
  let server: ReturnType<typeof createProvisioningServer> | undefined;
  afterEach(() => {
    server?.stop();
    store?.close();
  });

  const setup = (options: Partial<ProvisioningOptions> = {}) => {
    store = openSqliteHubStore(':memory:');
    for (const [jid, room] of [
      ['hall@example.org', 'hall'],
      ['attic@example.org', 'attic'],
      ['porch@example.org', 'hall'],
    ] as const) {
      store.register(jid, `${jid}/agent`, [{ kind: 'str', name: 'ROOM', value: room }]);
      store.setOwner(jid, OWNER, true);
    }
    store.register('stray@example.org', 'stray@example.org/agent', []);
    const fake = fakeTransport();
    server = createProvisioningServer({
      transport: fake.transport,
      store,
      log: silentLogger(),
      options: {
        askTimeoutMs: 30,
        pendingTtlMs: 60_000,
        maxPendingPerOwner: 10,
        onceClearDelayMs: 5,
        ...options,
      },
    });
    server.register();
    return { fake, server };
  };

  it('denies for things nobody claimed, allows the owner, and answers from rules without asking', async () => {
    const { fake, server } = setup();
    expect(result(await fake.ask('stray@example.org/agent', 'canRead', 'guest@example.org'))).toBe('false');
    expect(result(await fake.ask('hall@example.org/agent', 'canRead', OWNER))).toBe('true');
    server.addRule(OWNER, {
      tag: { name: 'ROOM', value: 'hall' },
      requester: 'example.org',
      action: 'control',
      allow: true,
      names: ['state'],
    });
    const answer = await fake.ask(
      'porch@example.org/agent',
      'canControl',
      'guest@example.org',
      xml('parameter', { name: 'state' }),
      xml('parameter', { name: 'other' }),
    );
    expect(answer.getChildren('parameter').map((p) => p.attrs.name)).toEqual(['state']);
    expect(result(answer)).toBe('true');
    expect(chats(fake.sent)).toEqual([]);
  });

  it('asks the owner once per question, denies after askTimeout, and on "always" clears the cache and recommends the friend', async () => {
    const { fake, server } = setup();
    expect(result(await fake.ask('hall@example.org/agent', 'isFriend', 'guest@example.org'))).toBe('false');
    expect(result(await fake.ask('hall@example.org/agent', 'isFriend', 'guest@example.org'))).toBe('false');
    expect(chats(fake.sent)).toHaveLength(1);
    const [pending] = server.pending(OWNER);
    expect(pending).toMatchObject({ kind: 'friend', answered: true });
    const rule = server.answer(OWNER, pending?.id as number, 'always');
    expect(rule).toMatchObject({
      thing: 'hall@example.org',
      requester: 'guest@example.org',
      action: 'read',
      allow: true,
    });
    await settle();
    expect(fake.requests.map((r) => `${r.attrs.to} ${r.getChildElements()[0]?.name}`)).toEqual([
      'hall@example.org/agent clearCache',
    ]);
    expect(notices(fake.sent, 'friend')).toEqual(['hall@example.org guest@example.org']);
    expect(server.pending(OWNER)).toEqual([]);
  });

  it('answers the waiting question itself when the owner decides in time', async () => {
    const { fake, server } = setup({ askTimeoutMs: 5000 });
    const waiting = fake.ask(
      'hall@example.org/agent',
      'canRead',
      'guest@example.org',
      xml('field', { name: 'load1' }),
    );
    await settle();
    const [pending] = server.pending(OWNER);
    server.answer(OWNER, pending?.id as number, 'once');
    const answer = await waiting;
    expect(result(answer)).toBe('true');
    expect(answer.getChildren('field').map((f) => f.attrs.name)).toEqual(['load1']);
    // Once: the thing forgets it soon after (so the next question is asked anew), and nothing is pending.
    await settle();
    expect(fake.requests.map((r) => r.getChildElements()[0]?.name)).toEqual(['clearCache']);
    expect(server.pending(OWNER)).toEqual([]);
  });

  it('bounds the questions waiting per owner: past the bound it denies without messaging', async () => {
    const { fake } = setup({ maxPendingPerOwner: 2 });
    for (const who of ['a', 'b', 'c'])
      await fake.ask('hall@example.org/agent', 'canRead', `${who}@example.org`);
    expect(chats(fake.sent)).toHaveLength(2);
    expect(store.pendingOf(OWNER)).toHaveLength(2);
  });

  it('clears every thing a tag rule covers, and a domain deny unfriends whoever from there was a friend', async () => {
    const { fake, server } = setup();
    server.addRule(OWNER, {
      tag: { name: 'ROOM', value: 'hall' },
      requester: 'example.org',
      action: 'read',
      allow: true,
    });
    await fake.ask('hall@example.org/agent', 'isFriend', 'guest@example.org');
    await fake.ask('porch@example.org/agent', 'canRead', 'bob@example.org');
    await fake.ask('porch@example.org/agent', 'canRead', 'eve@elsewhere.org');
    await settle();
    fake.requests.length = 0;
    fake.sent.length = 0;
    server.addRule(OWNER, {
      tag: { name: 'ROOM', value: 'hall' },
      requester: 'example.org',
      action: 'read',
      allow: false,
    });
    await settle();
    expect(fake.requests.map((r) => r.attrs.to).sort()).toEqual([
      'hall@example.org/agent',
      'porch@example.org/agent',
    ]);
    expect(notices(fake.sent, 'unfriend').sort()).toEqual([
      'hall@example.org guest@example.org',
      'porch@example.org bob@example.org',
    ]);
  });

  it('keeps clearCache for a thing that is offline, and drops the notices of a thing that refuses them', async () => {
    const { fake, server } = setup();
    fake.answerWith((iq) => (iq.attrs.to === 'hall@example.org/agent' ? 'service-unavailable' : 'forbidden'));
    server.addRule(OWNER, {
      tag: { name: 'ROOM', value: 'hall' },
      requester: 'guest@example.org',
      action: 'read',
      allow: true,
    });
    await settle();
    expect(store.noticesFor('hall@example.org').map((n) => n.kind)).toEqual(['clearCache', 'friend']);
    expect(store.noticesFor('porch@example.org')).toEqual([]);
    expect(notices(fake.sent, 'friend')).toEqual([]);
    // The thing comes back and asks something: its notices go first.
    fake.answerWith(() => undefined);
    await fake.ask('hall@example.org/agent', 'canRead', 'guest@example.org');
    await settle();
    expect(store.noticesFor('hall@example.org')).toEqual([]);
    expect(notices(fake.sent, 'friend')).toEqual(['hall@example.org guest@example.org']);
  });

  it('lets only the owner make rules for a thing, and refuses a rule about the owner', () => {
    const { server } = setup();
    expect(() =>
      server.addRule('mallory@example.org', {
        thing: 'hall@example.org',
        requester: 'mallory@example.org',
        action: 'read',
        allow: true,
      }),
    ).toThrow('you own no thing hall@example.org here');
    expect(() =>
      server.addRule(OWNER, { thing: 'hall@example.org', requester: OWNER, action: 'read', allow: false }),
    ).toThrow('always allowed');
    expect(() => server.removeRule('mallory@example.org', 1)).toThrow('no rule #1');
    expect(() =>
      server.addRule('mallory@example.org', {
        tag: { name: 'ROOM', value: 'hall' },
        requester: 'example.org',
        action: 'read',
        allow: true,
      }),
    ).toThrow('you own no things here');
    expect(() => server.answer('mallory@example.org', 1, 'once')).toThrow('no pending request #1');
  });

  it('refuses malformed questions with a text', async () => {
    const { fake } = setup();
    const noJid = await fake.ask('hall@example.org/agent', 'canRead', undefined);
    expect(noJid.getChild('bad-request')).toBeDefined();
    const many = await fake.ask(
      'hall@example.org/agent',
      'canRead',
      'g@example.org',
      ...Array.from({ length: 257 }, (_, i) => xml('field', { name: `f${i}` })),
    );
    expect(many.getChild('policy-violation')).toBeDefined();
    expect(chats(fake.sent)).toEqual([]);
  });
});
