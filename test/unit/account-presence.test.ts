import { EventEmitter } from 'node:events';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAccountPresence } from '../../src/hub/account-presence.js';
import { NS } from '../../src/xmpp/ns.js';
import type { IqHandler, Transport } from '../../src/xmpp/transport.js';
import { findAccountAddress, trackAccountAddress } from '../../src/xmpp/peer-address.js';
import { testLogger } from '../helpers/agent.js';

function fakeTransport(bareJid = 'hub@example.org') {
  const events = new EventEmitter();
  const sent: Element[] = [];
  const handlers = new Map<string, IqHandler>();
  const transport = {
    bareJid,
    send: (s: Element) => {
      sent.push(s);
      return Promise.resolve();
    },
    handleIq: (type: string, ns: string, name: string, h: IqHandler) =>
      handlers.set(`${type}|${ns}|${name}`, h),
    on: (e: string, l: (...a: unknown[]) => void) => events.on(e, l),
    off: (e: string, l: (...a: unknown[]) => void) => events.off(e, l),
  } as unknown as Transport;
  return { transport, sent, handlers, emit: (e: string, ...a: unknown[]) => events.emit(e, ...a) };
}

const caps = () => xml('c', { xmlns: NS.caps, hash: 'sha-1', node: 'https://example/xiot#hub', ver: 'v' });

describe('the presence of an account hub', () => {
  afterEach(() => vi.useRealTimers());

  const started = () => {
    const t = fakeTransport();
    createAccountPresence({ transport: t.transport, caps, log: testLogger() }).start();
    return t;
  };

  it('announces itself with caps at each login', () => {
    const t = started();
    t.emit('online', 'hub@example.org/hub');
    expect(t.sent.map(String)).toEqual([`<presence>${caps().toString()}</presence>`]);
  });

  it('approves every subscription request and never subscribes back', () => {
    const t = started();
    t.emit(
      'stanza',
      xml('presence', { type: 'subscribe', from: 'Thing@example.org/x', to: 'hub@example.org' }),
    );
    expect(t.sent.map((s) => s.attrs)).toEqual([{ type: 'subscribed', to: 'thing@example.org' }]);
  });

  it('answers a directed presence from a full JID once, at most once a second per sender', () => {
    vi.useFakeTimers();
    const t = started();
    const ask = (from: string) => t.emit('stanza', xml('presence', { from, to: 'hub@example.org/hub' }));
    ask('cli@example.org/xiot-1');
    ask('cli@example.org/xiot-1');
    ask('other@example.org/a');
    expect(t.sent.map((s) => s.attrs.to)).toEqual(['cli@example.org/xiot-1', 'other@example.org/a']);
    expect(t.sent[0]?.getChild('c', NS.caps)).toBeDefined();
    vi.advanceTimersByTime(1001);
    ask('cli@example.org/xiot-1');
    expect(t.sent).toHaveLength(3);
  });

  it('acknowledges roster pushes from its server only', async () => {
    const t = started();
    const push = t.handlers.get('set|jabber:iq:roster|query') as IqHandler;
    const query = xml('query', { xmlns: 'jabber:iq:roster' });
    expect(await push(xml('iq', { type: 'set' }, query), query)).toBe(true);
    expect(await push(xml('iq', { type: 'set', from: 'hub@example.org' }, query), query)).toBe(true);
    const forged = await push(xml('iq', { type: 'set', from: 'mallory@example.org/x' }, query), query);
    expect((forged as Element).getChild('service-unavailable')).toBeDefined();
  });

  it('ignores its own presences, other types, bare senders and another hub answer (no loops)', () => {
    const t = started();
    t.emit('stanza', xml('presence', { from: 'hub@example.org/other', to: 'hub@example.org/hub' }));
    t.emit('stanza', xml('presence', { from: 'a@example.org/x', type: 'unavailable' }));
    t.emit('stanza', xml('presence', { from: 'a@example.org/x', type: 'error' }));
    t.emit('stanza', xml('presence', { from: 'example.org' }));
    t.emit('stanza', xml('presence', { from: 'hub2@example.org/hub' }, caps()));
    t.emit('stanza', xml('message', { from: 'a@example.org/x' }));
    expect(t.sent).toEqual([]);
  });
});

describe('finding an account by presence', () => {
  it('uses a domain or full JID as it is', async () => {
    const t = fakeTransport('me@example.org');
    expect(await findAccountAddress(t.transport, 'registry.example.org')).toBe('registry.example.org');
    expect(await findAccountAddress(t.transport, 'hub@example.org/hub')).toBe('hub@example.org/hub');
    expect(t.sent).toEqual([]);
  });

  it('sends a directed presence to the bare JID and resolves with the full JID that answers', async () => {
    const t = fakeTransport('me@example.org');
    const found = findAccountAddress(t.transport, 'Hub@example.org', 1000);
    expect(t.sent.map((s) => s.attrs)).toEqual([{ to: 'hub@example.org' }]);
    t.emit('stanza', xml('presence', { from: 'hub@example.org/hub', type: 'unavailable' }));
    t.emit('stanza', xml('presence', { from: 'other@example.org/hub' }));
    t.emit('stanza', xml('presence', { from: 'hub@example.org/hub' }));
    expect(await found).toBe('hub@example.org/hub');
  });

  it('fails naming the account when nothing answers', async () => {
    const t = fakeTransport('me@example.org');
    await expect(findAccountAddress(t.transport, 'hub@example.org', 50)).rejects.toMatchObject({
      code: 'IOT_ERR_XMPP_TIMEOUT',
      message: expect.stringContaining('presence of hub@example.org'),
    });
  });

  it('tracks the latest available resource, forgetting it when unavailable or offline', () => {
    const t = fakeTransport('me@example.org');
    const seen: string[] = [];
    const tracker = trackAccountAddress(t.transport, 'hub@example.org', (a) => seen.push(a));
    t.emit('stanza', xml('presence', { from: 'hub@example.org/a' }));
    t.emit('stanza', xml('presence', { from: 'hub@example.org/a' }, xml('status', {}, 'again')));
    expect(tracker.address).toBe('hub@example.org/a');
    t.emit('stanza', xml('presence', { from: 'hub@example.org/a', type: 'unavailable' }));
    expect(tracker.address).toBeUndefined();
    t.emit('stanza', xml('presence', { from: 'hub@example.org/b' }));
    t.emit('offline');
    expect(tracker.address).toBeUndefined();
    expect(seen).toEqual(['hub@example.org/a', 'hub@example.org/b']);
    tracker.stop();
  });
});
