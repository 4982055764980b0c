import { describe, expect, it } from 'vitest';
import { capsVer } from '../../src/xmpp/disco.js';

describe('XEP-0115 verification string', () => {
  it('matches the simple generation example of XEP-0115 §5.2', () => {
    const ver = capsVer(
      [{ category: 'client', type: 'pc', name: 'Exodus 0.9.1' }],
      [
        'http://jabber.org/protocol/caps',
        'http://jabber.org/protocol/disco#info',
        'http://jabber.org/protocol/disco#items',
        'http://jabber.org/protocol/muc',
      ],
    );
    expect(ver).toBe('QgayPKawpkPSDYmwT/WM94uAlu0=');
  });

  it('changes when a feature changes and ignores feature order', () => {
    const id = [{ category: 'client', type: 'bot' }];
    expect(capsVer(id, ['b', 'a'])).toBe(capsVer(id, ['a', 'b']));
    expect(capsVer(id, ['a'])).not.toBe(capsVer(id, ['a', 'b']));
  });
});
