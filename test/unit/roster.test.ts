import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { describe, expect, it } from 'vitest';
import { createAccessPolicy } from '../../src/agent/access.js';
import { createRosterPolicy, ownerRequests, parseRosterItem } from '../../src/agent/roster.js';
import type { Transport } from '../../src/xmpp/transport.js';
import { recordingLogger } from '../helpers/transport.js';

const item = (attrs: Record<string, string>) =>
  parseRosterItem(xml('item', { jid: 'Alice@example.org', ...attrs }))[1];

describe('friendship requests to an owner, from the roster', () => {
  it('asks both ways for an owner not on the roster, pre-approval first', () => {
    expect(ownerRequests(undefined, true)).toEqual(['subscribed', 'subscribe']);
  });

  it('asks nothing when the roster says both', () => {
    expect(ownerRequests(item({ subscription: 'both' }), true)).toEqual([]);
  });

  it('asks only for what is missing', () => {
    expect(ownerRequests(item({ subscription: 'to' }), true)).toEqual(['subscribed']);
    expect(ownerRequests(item({ subscription: 'from' }), true)).toEqual(['subscribe']);
  });

  it('does not repeat a pending request nor a pre-approval', () => {
    expect(ownerRequests(item({ subscription: 'from', ask: 'subscribe' }), true)).toEqual([]);
    expect(ownerRequests(item({ subscription: 'none', approved: 'true', ask: 'subscribe' }), true)).toEqual(
      [],
    );
  });

  it('never pre-approves on a server that does not offer it (RFC 6121 §3.4; ejabberd 23.01)', () => {
    expect(ownerRequests(undefined, false)).toEqual(['subscribe']);
    expect(ownerRequests(item({ subscription: 'to' }), false)).toEqual([]);
    expect(ownerRequests(item({ subscription: 'none', ask: 'subscribe' }), false)).toEqual([]);
  });

  it('reads the JID in lower case and an unknown subscription as none', () => {
    expect(parseRosterItem(xml('item', { jid: 'Alice@example.org', subscription: 'odd' }))).toEqual([
      'alice@example.org',
      { subscription: 'none', ask: false, approved: false },
    ]);
  });
});

describe('owners whose presence the agent waits for after login', () => {
  // A unit test: the transport is a fake that answers the roster query with the given items (or fails).
  function policy(roster: Element[] | Error, preApproval = true) {
    const sent: Element[] = [];
    const listeners: Array<(stanza: Element) => void> = [];
    const transport = {
      bareJid: 'hall@example.org',
      preApproval,
      send: async (stanza: Element) => void sent.push(stanza),
      request: async () => {
        if (roster instanceof Error) throw roster;
        return xml('iq', { type: 'result' }, xml('query', { xmlns: 'jabber:iq:roster' }, ...roster));
      },
      handleIq: () => undefined,
      on: (_event: string, listener: (stanza: Element) => void) => void listeners.push(listener),
      off: () => undefined,
    } as unknown as Transport;
    const access = createAccessPolicy(['alice@example.org', 'bob@example.org', 'carol@example.org']);
    const receive = (stanza: Element) => {
      for (const l of listeners) l(stanza);
    };
    return { roster: createRosterPolicy({ transport, access, log: recordingLogger() }), sent, receive };
  }

  it('includes owners subscribed to, pending, and asked at this login', async () => {
    const { roster, sent } = policy([
      xml('item', { jid: 'alice@example.org', subscription: 'both' }),
      xml('item', { jid: 'bob@example.org', subscription: 'from', ask: 'subscribe' }),
    ]);
    expect(roster.ownersWeHear()).toEqual([]); // before the roster is read
    await roster.reconcile();
    // carol is not on the roster: asked both ways now, so her presence is on its way if she is online
    expect(sent.map((s) => `${s.attrs.type} ${s.attrs.to}`)).toEqual([
      'subscribed carol@example.org',
      'subscribe carol@example.org',
    ]);
    expect(roster.ownersWeHear()).toEqual(['alice@example.org', 'bob@example.org', 'carol@example.org']);
    // Whose answer is still to come (the agent waits less for them): bob's pending request, carol's new one.
    expect(roster.ownersAsked()).toEqual(['bob@example.org', 'carol@example.org']);
  });

  it('waits for every owner when the roster cannot be read (each was asked)', async () => {
    const { roster, sent } = policy(new Error('no roster here'));
    await roster.reconcile();
    expect(sent).toHaveLength(6);
    expect(roster.ownersWeHear()).toEqual(['alice@example.org', 'bob@example.org', 'carol@example.org']);
  });

  it('without pre-approval on the server, only asks at login, and approves an owner once asked', async () => {
    const { roster, sent, receive } = policy([], false);
    await roster.reconcile();
    expect(sent.map((s) => `${s.attrs.type} ${s.attrs.to}`)).toEqual([
      'subscribe alice@example.org',
      'subscribe bob@example.org',
      'subscribe carol@example.org',
    ]);
    sent.length = 0;
    receive(xml('presence', { type: 'subscribe', from: 'bob@example.org' }));
    receive(xml('presence', { type: 'subscribe', from: 'mallory@example.org' }));
    await new Promise((r) => setImmediate(r));
    expect(sent.map((s) => `${s.attrs.type} ${s.attrs.to}`).sort()).toEqual([
      'subscribe bob@example.org',
      'subscribed bob@example.org',
      'unsubscribed mallory@example.org',
    ]);
  });

  it('probes a new friend it already hears once it approved them, so the server re-sends their caps', async () => {
    const { roster, sent, receive } = policy(
      [xml('item', { jid: 'alice@example.org', subscription: 'to' })],
      false,
    );
    await roster.reconcile();
    sent.length = 0;
    receive(xml('presence', { type: 'subscribe', from: 'Alice@example.org/phone' }));
    await new Promise((r) => setImmediate(r));
    expect(sent.map((s) => `${s.attrs.type} ${s.attrs.to}`)).toEqual([
      'subscribed alice@example.org',
      'subscribe alice@example.org',
      'probe alice@example.org',
    ]);
  });
});
