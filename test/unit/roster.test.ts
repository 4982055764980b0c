import { xml } from '@xmpp/client';
import { describe, expect, it } from 'vitest';
import { ownerRequests, parseRosterItem } from '../../src/agent/roster.js';

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
