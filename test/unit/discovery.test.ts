import { xml } from '@xmpp/client';
import { describe, expect, it } from 'vitest';
import {
  canonicalTags,
  formatClaimCode,
  matches,
  type MetaTag,
  NS_DISCOVERY,
  parseClaimCode,
  parseSearch,
  parseTags,
  TagError,
} from '../../src/iot/discovery.js';
import { createClaimThrottle } from '../../src/hub/registry.js';
import { openSqliteHubStore } from '../../src/hub/store.js';

const register = (...tags: [string, string, string][]) =>
  xml('register', { xmlns: NS_DISCOVERY }, ...tags.map(([kind, name, value]) => xml(kind, { name, value })));

describe('XEP-0347 meta tags', () => {
  it.each([
    ['a name with ":"', [['str', 'A:B', 'x']], '":"'],
    ['a name with "#"', [['str', 'A#B', 'x']], "'#'"],
    ['a name with whitespace', [['str', 'A B', 'x']], 'whitespace'],
    ['an empty name', [['str', '', 'x']], 'empty'],
    ['a name of 33 characters', [['str', 'N'.repeat(33), 'x']], 'longer than 32'],
    ['a value of 129 characters', [['str', 'NAME', 'v'.repeat(129)]], 'at most 128'],
    ['an empty string value', [['str', 'NAME', '']], 'empty value'],
    ['a num that is not a number', [['num', 'LAT', 'north']], 'not a number'],
    [
      'a duplicate name (names are case-insensitive)',
      [
        ['str', 'room', 'a'],
        ['str', 'ROOM', 'b'],
      ],
      'duplicate tag name "ROOM"',
    ],
    ['33 tags', Array.from({ length: 33 }, (_, i) => ['str', `T${i}`, 'x']), 'at most 32 tags'],
  ] as [string, [string, string, string][], string][])('refuses %s with a text', (_what, tags, text) => {
    expect(() => parseTags(register(...tags))).toThrow(TagError);
    expect(() => parseTags(register(...tags))).toThrow(text.replace(/^"(.*)"$/, '$1'));
  });

  it('accepts the limits themselves and upper-cases names', () => {
    const tags = parseTags(
      register(['str', 'n'.repeat(32), 'v'.repeat(128)], ['num', 'lat', '59.3'], ['str', 'KEY', 'k']),
    );
    expect(tags).toEqual([
      { kind: 'str', name: 'N'.repeat(32), value: 'v'.repeat(128) },
      { kind: 'num', name: 'LAT', value: 59.3 },
      { kind: 'str', name: 'KEY', value: 'k' },
    ]);
  });

  it('compares tag sets whatever their order and name case', () => {
    const a: MetaTag[] = [
      { kind: 'str', name: 'SN', value: '1' },
      { kind: 'num', name: 'V', value: 2 },
    ];
    expect(canonicalTags(a)).toBe(canonicalTags([...a].reverse()));
    expect(canonicalTags(a)).not.toBe(canonicalTags([{ kind: 'str', name: 'SN', value: '1' }]));
  });
});

describe('XEP-0347 search operators', () => {
  const tags: MetaTag[] = [
    { kind: 'str', name: 'ROOM', value: 'kitchen' },
    { kind: 'num', name: 'FLOOR', value: 2 },
  ];
  const el = (name: string, attrs: Record<string, string>) =>
    parseSearch(xml('search', { xmlns: NS_DISCOVERY }, xml(name, attrs))).conditions[0];
  it.each([
    ['strEq', { name: 'room', value: 'kitchen' }, true],
    ['strEq', { name: 'ROOM', value: 'hall' }, false],
    ['strNEq', { name: 'ROOM', value: 'hall' }, true],
    ['strGt', { name: 'ROOM', value: 'hall' }, true],
    ['strGtEq', { name: 'ROOM', value: 'kitchen' }, true],
    ['strLt', { name: 'ROOM', value: 'kitchen' }, false],
    ['strLtEq', { name: 'ROOM', value: 'kitchen' }, true],
    [
      'strRange',
      { name: 'ROOM', min: 'a', max: 'kitchen', minIncluded: 'true', maxIncluded: 'false' },
      false,
    ],
    ['strRange', { name: 'ROOM', min: 'a', max: 'kitchen', minIncluded: 'true', maxIncluded: 'true' }, true],
    ['strNRange', { name: 'ROOM', min: 'a', max: 'b', minIncluded: 'true', maxIncluded: 'true' }, true],
    ['strMask', { name: 'ROOM', value: 'kit*' }, true],
    ['strMask', { name: 'ROOM', value: 'k?tchen', wildcard: '?' }, true],
    ['strMask', { name: 'ROOM', value: 'hall*' }, false],
    ['numEq', { name: 'FLOOR', value: '2' }, true],
    ['numNEq', { name: 'FLOOR', value: '2' }, false],
    ['numGt', { name: 'FLOOR', value: '1.5' }, true],
    ['numGtEq', { name: 'FLOOR', value: '2' }, true],
    ['numLt', { name: 'FLOOR', value: '2' }, false],
    ['numLtEq', { name: 'FLOOR', value: '2' }, true],
    ['numRange', { name: 'FLOOR', min: '2', max: '3', minIncluded: 'false', maxIncluded: 'true' }, false],
    ['numRange', { name: 'FLOOR', min: '1', max: '3' }, true],
    ['numNRange', { name: 'FLOOR', min: '3', max: '4' }, true],
    ['numEq', { name: 'ROOM', value: '2' }, false], // a str tag never matches a num operator
    ['strEq', { name: 'MISSING', value: 'x' }, false],
  ] as [string, Record<string, string>, boolean][])('%s %o → %s', (op, attrs, expected) => {
    expect(matches(el(op, attrs) as NonNullable<ReturnType<typeof el>>, tags)).toBe(expected);
  });

  it('reads offset and maxCount, caps maxCount, and refuses unknown operators and bad numbers', () => {
    expect(parseSearch(xml('search', { offset: '5', maxCount: '1000' }), 100)).toMatchObject({
      offset: 5,
      maxCount: 100,
    });
    expect(() => parseSearch(xml('search', {}, xml('strLike', { name: 'A', value: 'b' })))).toThrow(TagError);
    expect(() => parseSearch(xml('search', {}, xml('numEq', { name: 'A', value: 'b' })))).toThrow(TagError);
    expect(() => parseSearch(xml('search', { offset: '-1' }))).toThrow(TagError);
    expect(() => parseSearch(xml('search', { maxCount: '0' }))).toThrow('positive');
  });
});

describe('XEP-0347 claim codes', () => {
  const tags: MetaTag[] = [
    { kind: 'str', name: 'MAN', value: 'xmpp-iot.org' },
    { kind: 'str', name: 'SN', value: 'a;b\\c' },
    { kind: 'num', name: 'V', value: 1.5 },
    { kind: 'str', name: 'KEY', value: 'secret' },
  ];

  it('writes the spec text and the iotdisco: URI, escaping ";" and "\\"', () => {
    const code = formatClaimCode({ tags, registry: 'registry.localhost' });
    expect(code.text).toBe('IoTDisco;MAN:xmpp-iot.org;SN:a\\;b\\\\c;#V:1.5;KEY:secret');
    expect(code.uri).toBe('iotdisco:MAN=xmpp-iot.org;SN=a\\;b\\\\c;#V=1.5;KEY=secret;R=registry.localhost');
  });

  it('reads back both forms', () => {
    const code = formatClaimCode({ tags, registry: 'registry.localhost' });
    expect(parseClaimCode(code.text)).toEqual({ tags });
    expect(parseClaimCode(code.uri)).toEqual({ tags, registry: 'registry.localhost' });
  });

  it('refuses what is not a claim code', () => {
    expect(() => parseClaimCode('hello')).toThrow(TagError);
    expect(() => parseClaimCode('IoTDisco;')).toThrow('no tags');
    expect(() => parseClaimCode('IoTDisco;A:1;a:2')).toThrow('duplicate');
  });
});

describe('the registry store and throttle', () => {
  it('finds an unclaimed thing by its exact tags, and no longer once claimed', () => {
    const store = openSqliteHubStore(':memory:');
    const tags: MetaTag[] = [
      { kind: 'str', name: 'SN', value: '1' },
      { kind: 'str', name: 'KEY', value: 'k' },
    ];
    store.register('t@x', 't@x/r', tags);
    expect(store.findUnclaimed([...tags].reverse())?.jid).toBe('t@x');
    expect(store.findUnclaimed(tags.slice(0, 1))).toBeUndefined();
    store.setOwner('t@x', 'o@x', true);
    expect(store.findUnclaimed(tags)).toBeUndefined();
    expect(store.listPublic().map((t) => t.owner)).toEqual(['o@x']);
    store.close();
  });

  it('blocks a claimant after N wrong claims in a minute, per claimant', () => {
    const throttle = createClaimThrottle(3);
    for (let i = 0; i < 3; i++) throttle.failed('m@x', 1000 + i);
    expect(throttle.blocked('m@x', 2000)).toBe(true);
    expect(throttle.blocked('a@x', 2000)).toBe(false);
    expect(throttle.blocked('m@x', 62_000)).toBe(false);
  });
});
