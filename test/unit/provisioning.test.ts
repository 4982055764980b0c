import { describe, expect, it } from 'vitest';
import { createAccessPolicy, narrow } from '../../src/agent/access.js';
import { bareOf } from '../../src/xmpp/jid.js';
import { mostPermissive } from '../../src/iot/provisioning.js';

describe('provisioning decisions', () => {
  it('lets the most permissive answer of several servers win', () => {
    expect(mostPermissive([{ allowed: false }, { allowed: true, names: ['a'] }])).toEqual({
      allowed: true,
      names: ['a'],
    });
    expect(
      mostPermissive([
        { allowed: true, names: ['a'] },
        { allowed: true, names: ['b'] },
      ]),
    ).toEqual({ allowed: true, names: ['a', 'b'] });
    expect(mostPermissive([{ allowed: true, names: ['a'] }, { allowed: true }])).toEqual({ allowed: true });
    expect(mostPermissive([{ allowed: false }, { allowed: false }])).toEqual({ allowed: false });
    expect(mostPermissive([])).toEqual({ allowed: false });
  });

  it('narrows what was asked to what is allowed', () => {
    expect(narrow(['a', 'b'], undefined)).toBeUndefined();
    expect(narrow(['a', 'b'], ['b', 'c'])).toEqual(['b']);
    expect(narrow([], ['b', 'c'])).toEqual(['b', 'c']);
  });

  it('compares senders by bare JID, case-insensitively, whatever their resource', () => {
    expect(bareOf('Owner@Example.org/phone')).toBe('owner@example.org');
    expect(bareOf('owner@example.org/a/b')).toBe('owner@example.org');
    expect(bareOf('example.org')).toBe('example.org');
    const policy = createAccessPolicy(['owner@example.org']);
    expect(policy.isOwner('OWNER@example.org/x/y')).toBe(true);
    expect(policy.isOwner('owner@example.org.evil/x')).toBe(false);
    expect(policy.isOwner('other@example.org/owner@example.org')).toBe(false);
  });
});
