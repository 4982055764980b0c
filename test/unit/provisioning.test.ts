import { describe, expect, it } from 'vitest';
import { createAccessPolicy, narrow } from '../../src/agent/access.js';
import type { ProvisioningClient } from '../../src/agent/provisioning.js';
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

  it('lets a trusted provisioning server read without asking anyone, but not control (the hub keeps the history)', async () => {
    const asked: string[] = [];
    const provisioning = {
      enabled: true,
      isTrusted: (from: string) => bareOf(from) === 'hub.example.org',
      isFriend: async () => false,
      canRead: async (jid: string) => {
        asked.push(`read ${jid}`);
        return { allowed: false };
      },
      canControl: async (jid: string) => {
        asked.push(`control ${jid}`);
        return { allowed: false };
      },
    } as unknown as ProvisioningClient;
    const policy = createAccessPolicy(['owner@example.org'], provisioning);
    const question = { types: [], nodes: [], fields: [], tokens: {} };
    expect(await policy.canRead('hub.example.org/ingest', question)).toEqual({ allowed: true });
    expect(await policy.canRead('HUB.example.org', question)).toEqual({ allowed: true });
    expect(asked).toEqual([]);
    // Anyone else is still the servers' decision; control by the server itself is asked like anyone's.
    expect(await policy.canRead('stranger@example.org', question)).toEqual({ allowed: false });
    expect(await policy.canRead('hub.example.org.evil', question)).toEqual({ allowed: false });
    expect(await policy.canControl('hub.example.org', { nodes: [], parameters: [], tokens: {} })).toEqual({
      allowed: false,
    });
    expect(asked).toEqual([
      'read stranger@example.org',
      'read hub.example.org.evil',
      'control hub.example.org',
    ]);
  });
});
