import { xml } from '@xmpp/client';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/iot/provisioning.js';
import {
  checkRule,
  describeRule,
  parseRuleElement,
  ruleElement,
  RuleError,
  type RuleInput,
} from '../../src/iot/provisioning-rules.js';
import { answerFor, friendDecision, ruleDecision, type ThingFacts } from '../../src/hub/rules.js';
import { openSqliteHubStore } from '../../src/hub/store.js';

const hall: ThingFacts = {
  jid: 'hall@example.org',
  tags: [
    { kind: 'str', name: 'ROOM', value: 'hall' },
    { kind: 'num', name: 'FLOOR', value: 2 },
  ],
};
const thing = (requester: string, extra: Partial<RuleInput> = {}): RuleInput => ({
  thing: 'hall@example.org',
  requester,
  action: 'read',
  allow: true,
  ...extra,
});
const tag = (name: string, value: string, requester: string, extra: Partial<RuleInput> = {}): RuleInput => ({
  tag: { name, value },
  requester,
  action: 'read',
  allow: true,
  ...extra,
});

describe('provisioning rules: which rule decides', () => {
  it.each<[string, RuleInput[], string, Decision | undefined]>([
    ['no rules: the owner is asked', [], 'guest@example.org', undefined],
    [
      'a rule for another thing does not apply',
      [{ ...thing('guest@example.org'), thing: 'x@example.org' }],
      'guest@example.org',
      undefined,
    ],
    [
      'a rule for another requester does not apply',
      [thing('other@example.org')],
      'guest@example.org',
      undefined,
    ],
    [
      'a control rule does not answer a read',
      [thing('guest@example.org', { action: 'control' })],
      'guest@example.org',
      undefined,
    ],
    [
      'a JID rule allows, whatever the resource and case',
      [thing('guest@example.org')],
      'Guest@Example.org/phone',
      { allowed: true },
    ],
    ['a domain rule allows everyone there', [thing('example.org')], 'guest@example.org', { allowed: true }],
    ['a domain rule does not allow a subdomain', [thing('example.org')], 'guest@sub.example.org', undefined],
    [
      'a tag rule applies to things with the tag',
      [tag('ROOM', 'hall', 'guest@example.org')],
      'guest@example.org',
      { allowed: true },
    ],
    [
      'a tag rule with another value does not',
      [tag('ROOM', 'attic', 'guest@example.org')],
      'guest@example.org',
      undefined,
    ],
    [
      'a numeric tag compares as a number',
      [tag('FLOOR', '2.0', 'guest@example.org')],
      'guest@example.org',
      { allowed: true },
    ],
    [
      'a deny rule denies',
      [thing('guest@example.org', { allow: false })],
      'guest@example.org',
      { allowed: false },
    ],
    [
      'a JID deny beats a domain allow',
      [thing('example.org'), thing('mallory@example.org', { allow: false })],
      'mallory@example.org',
      { allowed: false },
    ],
    [
      'a JID allow beats a domain deny',
      [thing('example.org', { allow: false }), thing('alice@example.org')],
      'alice@example.org',
      { allowed: true },
    ],
    [
      'a thing rule beats a tag rule for the same requester',
      [tag('ROOM', 'hall', 'guest@example.org', { allow: false }), thing('guest@example.org')],
      'guest@example.org',
      { allowed: true },
    ],
    [
      'the requester counts before the target: a JID tag rule beats a domain thing rule',
      [thing('example.org', { allow: false }), tag('ROOM', 'hall', 'guest@example.org')],
      'guest@example.org',
      { allowed: true },
    ],
    [
      'equally specific: deny wins',
      [tag('ROOM', 'hall', 'guest@example.org'), tag('FLOOR', '2', 'guest@example.org', { allow: false })],
      'guest@example.org',
      { allowed: false },
    ],
    [
      'equally specific allows merge their narrowing',
      [
        tag('ROOM', 'hall', 'guest@example.org', { names: ['load1'] }),
        tag('FLOOR', '2', 'guest@example.org', { names: ['uptime'], nodes: ['host'] }),
      ],
      'guest@example.org',
      { allowed: true, names: ['load1', 'uptime'] },
    ],
    [
      'an unnarrowed allow wins over a narrowed one of the same rank',
      [
        tag('ROOM', 'hall', 'guest@example.org', { names: ['load1'] }),
        tag('FLOOR', '2', 'guest@example.org'),
      ],
      'guest@example.org',
      { allowed: true },
    ],
  ])('%s', (_what, rules, requester, expected) => {
    expect(ruleDecision(rules, hall, requester, 'read')).toEqual(expected);
  });

  it.each<[string, Decision, { nodes: string[]; names: string[] }, Decision]>([
    ['everything allowed, everything asked', { allowed: true }, { nodes: [], names: [] }, { allowed: true }],
    [
      'narrowed, everything asked: the allowed list',
      { allowed: true, names: ['a', 'b'] },
      { nodes: [], names: [] },
      { allowed: true, names: ['a', 'b'] },
    ],
    [
      'narrowed, some asked: what is asked and allowed',
      { allowed: true, names: ['a', 'b'] },
      { nodes: [], names: ['b', 'c'] },
      { allowed: true, names: ['b'] },
    ],
    [
      'narrowed, none of what is asked: denied',
      { allowed: true, names: ['a'] },
      { nodes: [], names: ['c'] },
      { allowed: false },
    ],
    [
      'nodes narrow independently',
      { allowed: true, nodes: ['host'] },
      { nodes: ['host', 'relay'], names: ['x'] },
      { allowed: true, nodes: ['host'] },
    ],
    ['a deny stays a deny', { allowed: false }, { nodes: [], names: [] }, { allowed: false }],
  ])('answers %s', (_what, decision, asked, expected) => {
    expect(answerFor(decision, asked)).toEqual(expected);
  });

  it('makes friends only of those who may read everything (a friend receives everything published)', () => {
    expect(friendDecision([], hall, 'guest@example.org')).toBeUndefined();
    expect(friendDecision([thing('guest@example.org')], hall, 'guest@example.org')).toBe(true);
    expect(
      friendDecision([thing('guest@example.org', { names: ['load1'] })], hall, 'guest@example.org'),
    ).toBe(false);
    expect(friendDecision([thing('guest@example.org', { allow: false })], hall, 'guest@example.org')).toBe(
      false,
    );
    expect(
      friendDecision([thing('guest@example.org', { action: 'control' })], hall, 'guest@example.org'),
    ).toBeUndefined();
  });
});

describe('provisioning rules: checking and the wire form', () => {
  it.each<[string, RuleInput, string]>([
    ['neither thing nor tag', { requester: 'a@b', action: 'read', allow: true }, 'either a thing'],
    [
      'both thing and tag',
      { thing: 'a@b', tag: { name: 'ROOM', value: 'x' }, requester: 'a@b', action: 'read', allow: true },
      'either a thing',
    ],
    [
      'a thing that is a domain',
      { thing: 'example.org', requester: 'a@b', action: 'read', allow: true },
      'bare JID',
    ],
    [
      'a requester with a resource',
      { thing: 'a@b', requester: 'a@b/r', action: 'read', allow: true },
      'requester',
    ],
    [
      'a KEY tag',
      { tag: { name: 'key', value: 'x' }, requester: 'a@b', action: 'read', allow: true },
      'KEY is a secret',
    ],
    [
      'a tag name with ":"',
      { tag: { name: 'A:B', value: 'x' }, requester: 'a@b', action: 'read', allow: true },
      "':'",
    ],
    [
      'an unknown action',
      { thing: 'a@b', requester: 'a@b', action: 'write' as 'read', allow: true },
      'read or control',
    ],
    [
      'too many fields',
      {
        thing: 'a@b',
        requester: 'a@b',
        action: 'read',
        allow: true,
        names: Array.from({ length: 65 }, (_, i) => `f${i}`),
      },
      'at most 64',
    ],
  ])('refuses %s with a text', (_what, input, text) => {
    expect(() => checkRule(input)).toThrow(RuleError);
    expect(() => checkRule(input)).toThrow(text);
  });

  it('round-trips a rule through its element, lower-casing JIDs and upper-casing tag names', () => {
    const rule = checkRule({
      tag: { name: 'room', value: 'Hall' },
      requester: 'Guest@Example.org',
      action: 'read',
      allow: true,
      nodes: ['host'],
      names: ['load1', 'load1'],
    });
    expect(rule).toEqual({
      tag: { name: 'ROOM', value: 'Hall' },
      requester: 'guest@example.org',
      action: 'read',
      allow: true,
      nodes: ['host'],
      names: ['load1'],
    });
    expect(parseRuleElement(ruleElement(rule))).toEqual(rule);
    expect(describeRule(rule)).toBe(
      'allow guest@example.org to read things with ROOM=Hall (only nodes host; fields load1)',
    );
  });

  it('drops narrowing from a deny, and reads parameters for control', () => {
    const el = xml(
      'rule',
      { thing: 'hall@example.org', requester: 'example.org', action: 'control', effect: 'allow' },
      xml('parameter', { name: 'state' }),
      xml('field', { name: 'ignored' }),
    );
    expect(parseRuleElement(el).names).toEqual(['state']);
    el.attrs.effect = 'deny';
    expect(parseRuleElement(el).names).toBeUndefined();
    el.attrs.effect = 'maybe';
    expect(() => parseRuleElement(el)).toThrow('effect');
  });
});

describe('the hub store keeps rules, pending questions and notices', () => {
  it('replaces a rule for the same target, requester and action, per owner', () => {
    const store = openSqliteHubStore(':memory:');
    const a = store.addRule('alice@example.org', checkRule(thing('guest@example.org', { names: ['load1'] })));
    const b = store.addRule('alice@example.org', checkRule(thing('guest@example.org', { allow: false })));
    expect(b.id).toBe(a.id);
    store.addRule('alice@example.org', checkRule(thing('guest@example.org', { action: 'control' })));
    store.addRule('bob@example.org', checkRule(tag('ROOM', 'a=b', 'example.org')));
    expect(store.rulesOf('alice@example.org').map((r) => [r.action, r.allow, r.names])).toEqual([
      ['read', false, undefined],
      ['control', true, undefined],
    ]);
    expect(store.rulesOf('bob@example.org')[0]?.tag).toEqual({ name: 'ROOM', value: 'a=b' });
    expect(store.removeRule('bob@example.org', a.id)).toBeUndefined();
    expect(store.removeRule('alice@example.org', a.id)?.id).toBe(a.id);
    store.close();
  });

  it('keeps one pending question per thing, requester and kind, and expires old ones', () => {
    const store = openSqliteHubStore(':memory:');
    const q = {
      owner: 'o@x',
      thing: 't@x',
      requester: 'g@x',
      kind: 'read' as const,
      nodes: [],
      names: ['a'],
    };
    const p = store.addPending({ ...q, askedAt: 1000 });
    expect(() => store.addPending({ ...q, askedAt: 2000 })).toThrow();
    store.markPending(p.id, { answered: true });
    expect(store.findPending('t@x', 'g@x', 'read')).toMatchObject({
      answered: true,
      granted: false,
      names: ['a'],
    });
    store.addPending({ ...q, kind: 'friend', askedAt: 5000 });
    expect(store.expirePending(2000)).toBe(1);
    expect(store.pendingOf('o@x').map((x) => x.kind)).toEqual(['friend']);
    store.addNotice({ thing: 't@x', kind: 'clearCache', jid: '' });
    store.addNotice({ thing: 't@x', kind: 'clearCache', jid: '' });
    store.addNotice({ thing: 't@x', kind: 'unfriend', jid: 'g@x' });
    expect(store.noticesFor('t@x')).toHaveLength(2);
    expect(store.noticeThings()).toEqual(['t@x']);
    store.close();
  });
});
