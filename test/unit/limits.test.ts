import { xml } from '@xmpp/client';
import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { encodeCommands } from '../../devices/line_serial.js';
import { LIMIT_DEFAULTS, parseAgentConfig } from '../../src/config/agent-config.js';
import { ConfigError } from '../../src/core/errors.js';
import { createRequestLimiter } from '../../src/agent/access.js';
import { quote } from '../../src/xmpp/stanza-errors.js';
import { ParamError, parseControlValue } from '../../src/iot/control.js';
import { formTypeProblem } from '../../src/xmpp/forms.js';
import { NS } from '../../src/xmpp/ns.js';
import { limitError } from '../../src/xmpp/stanza-errors.js';

const config = (extra = '') => `
xmpp: { service: xmpp://127.0.0.1:5222, domain: localhost, username: kitchen, password: pw }
${extra}
devices:
  - { id: host, type: system }
`;
const parse = (text: string) => parseAgentConfig(text, { definitions: builtinDevices, env: {} });

describe('limits configuration', () => {
  it('fills every limit with its default when limits: is absent', () => {
    expect(parse(config()).limits).toEqual(LIMIT_DEFAULTS);
  });

  it('takes the limits given and keeps the defaults of the others', () => {
    const limits = parse(config('limits: { chatBody: 100, requestRate: 0 }')).limits;
    expect(limits).toEqual({ ...LIMIT_DEFAULTS, chatBody: 100, requestRate: 0 });
  });

  it('reports a bad or unknown limit with its key path', () => {
    try {
      parse(config('limits: { parametersPerSet: 0, stanzaSize: 10, typo: 1 }'));
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const issues = (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
      expect(issues).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^limits\.parametersPerSet: /),
          expect.stringMatching(/^limits\.stanzaSize: /),
          expect.stringMatching(/^limits\.typo: unknown key/),
        ]),
      );
    }
  });
});

describe('the per-requester token bucket', () => {
  it('allows a burst, then refills at the rate, per bare JID', () => {
    const limiter = createRequestLimiter({ rate: 2, burst: 3 });
    const t = 1_000_000;
    expect([1, 2, 3, 4].map(() => limiter.take('a@x/phone', t))).toEqual([true, true, true, false]);
    // The same account from another resource shares the bucket; another account does not.
    expect(limiter.take('A@X/laptop', t)).toBe(false);
    expect(limiter.take('b@x/phone', t)).toBe(true);
    expect(limiter.take('a@x/phone', t + 499)).toBe(false);
    expect(limiter.take('a@x/phone', t + 500)).toBe(true);
    expect(limiter.take('a@x/phone', t + 10_000)).toBe(true);
  });

  it('with rate 0 never refuses', () => {
    const limiter = createRequestLimiter({ rate: 0, burst: 1 });
    expect(Array.from({ length: 100 }, () => limiter.take('a@x')).every(Boolean)).toBe(true);
  });

  it('forgets requesters whose bucket is full again once it tracks 10,000', () => {
    const limiter = createRequestLimiter({ rate: 100, burst: 1 });
    for (let i = 0; i < 10_000; i++) limiter.take(`u${i}@x`, 0);
    expect(limiter.size()).toBe(10_000);
    limiter.take('late@x', 60_000);
    expect(limiter.size()).toBe(1);
  });
});

describe('limit errors and quotes', () => {
  it('names the setting; sizes are policy-violation (modify), capacity and rate resource-constraint (wait)', () => {
    const size = limitError('parametersPerSet', 64, 'too many parameters');
    expect(size.attrs.type).toBe('modify');
    expect(size.getChild('policy-violation', NS.stanzas)).toBeDefined();
    expect(size.getChildText('text', NS.stanzas)).toBe(
      'too many parameters: over limits.parametersPerSet (64)',
    );
    const rate = limitError('requestRate', 50, 'too many requests');
    expect(rate.attrs.type).toBe('wait');
    expect(rate.getChild('resource-constraint', NS.stanzas)).toBeDefined();
  });

  it('quotes at most 64 characters and marks the cut', () => {
    expect(quote('short')).toBe('short');
    expect(quote('q'.repeat(1_000_000))).toBe(`${'q'.repeat(64)}…`);
  });
});

describe('string parameters', () => {
  const label = { name: 'label', type: 'string', description: 'Free text' } as const;

  it('refuses a value over limits.stringLength without quoting it', () => {
    const err = (() => {
      try {
        parseControlValue(label, 'v'.repeat(2000), 1024);
      } catch (e) {
        return e as ParamError;
      }
      throw new Error('accepted');
    })();
    expect(err).toBeInstanceOf(ParamError);
    expect(err).toMatchObject({ condition: 'policy-violation', message: 'over limits.stringLength (1024)' });
  });

  it("applies a command template's own smaller maxLength", () => {
    expect(() => parseControlValue({ ...label, maxLength: 8 }, 'ninechars', 1024)).toThrow(
      'longer than 8 characters',
    );
    expect(parseControlValue({ ...label, maxLength: 8 }, 'eight ch', 1024)).toBe('eight ch');
  });

  it('line_serial declares maxLength on the parameter of a command that sets one', () => {
    const def = builtinDevices.find((d) => d.type === 'line_serial');
    const opts = {
      values: { temp: { type: 'numeric' } },
      commands: { label: { type: 'string', template: 'LABEL {value}\n', maxLength: 20 } },
    };
    const specs = typeof def?.controls === 'function' ? def.controls(opts) : [];
    expect(specs).toEqual([expect.objectContaining({ name: 'label', maxLength: 20 })]);
    expect(Buffer.from(encodeCommands(opts as never, { label: 'hi' })[0] as Uint8Array).toString()).toBe(
      'LABEL hi\n',
    );
  });
});

describe('FORM_TYPE of a submitted form', () => {
  const form = (formType?: string) =>
    xml(
      'x',
      { xmlns: NS.dataForms, type: 'submit' },
      ...(formType ? [xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType))] : []),
    );

  it('accepts the expected one, refuses another naming the expected one', () => {
    expect(formTypeProblem(form(NS.control), NS.control)).toBeUndefined();
    expect(formTypeProblem(form('urn:example:bogus'), NS.control)).toBe(`expected FORM_TYPE ${NS.control}`);
  });

  it('accepts a form without FORM_TYPE unless it is required', () => {
    expect(formTypeProblem(form(), NS.control)).toBeUndefined();
    expect(formTypeProblem(form(), NS.control, true)).toBe(`the form must carry FORM_TYPE ${NS.control}`);
  });
});
