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
    expect(ownerRequests(undefined)).toEqual(['subscribed', 'subscribe']);
  });

  it('asks nothing when the roster says both', () => {
    expect(ownerRequests(item({ subscription: 'both' }))).toEqual([]);
  });

  it('asks only for what is missing', () => {
    expect(ownerRequests(item({ subscription: 'to' }))).toEqual(['subscribed']);
    expect(ownerRequests(item({ subscription: 'from' }))).toEqual(['subscribe']);
  });

  it('does not repeat a pending request nor a pre-approval', () => {
    expect(ownerRequests(item({ subscription: 'from', ask: 'subscribe' }))).toEqual([]);
    expect(ownerRequests(item({ subscription: 'none', approved: 'true', ask: 'subscribe' }))).toEqual([]);
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
  function policy(roster: Element[] | Error) {
    const sent: Element[] = [];
    const transport = {
      bareJid: 'hall@example.org',
      send: async (stanza: Element) => void sent.push(stanza),
      request: async () => {
        if (roster instanceof Error) throw roster;
        return xml('iq', { type: 'result' }, xml('query', { xmlns: 'jabber:iq:roster' }, ...roster));
      },
      handleIq: () => undefined,
      on: () => undefined,
      off: () => undefined,
    } as unknown as Transport;
    const access = createAccessPolicy(['alice@example.org', 'bob@example.org', 'carol@example.org']);
    return { roster: createRosterPolicy({ transport, access, log: recordingLogger() }), sent };
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
});
