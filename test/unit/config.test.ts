import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { ConfigError } from '../../src/core/errors.js';

const VALID = `
xmpp:
  service: xmpp://127.0.0.1:5222
  domain: localhost
  username: kitchen
  password: \${KITCHEN_PASSWORD}
  resource: agent
owners: [alice@localhost]
store: ./data/kitchen.db
publish:
  service: pep
devices:
  - id: host
    type: system
    interval: 10s
    fields: { load1: { filters: [ { delta: 0.05 } ] } }
`;

const parse = (text: string, env: Record<string, string> = { KITCHEN_PASSWORD: 's3cret' }) =>
  parseAgentConfig(text, { definitions: builtinDevices, env, sourcePath: '/etc/xiot/kitchen.yaml' });

function issuesOf(text: string, env?: Record<string, string>) {
  try {
    parse(text, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('agent config', () => {
  it('accepts the documented shape and fills defaults', () => {
    const c = parse(VALID);
    expect(c.xmpp).toMatchObject({ username: 'kitchen', password: 's3cret', resource: 'agent' });
    expect(c.store).toBe('/etc/xiot/data/kitchen.db'); // relative to the config file
    expect(c.publish).toEqual({
      service: 'pep',
      node: 'urn:xmpp:iot:sensordata',
      accessModel: 'presence',
      enabled: true,
    });
    expect(c.devices[0]).toMatchObject({
      id: 'host',
      type: 'system',
      schedule: { kind: 'every', ms: 10_000 },
    });
    expect(c.devices[0]?.fields.load1?.filters).toEqual([{ delta: 0.05 }]);
  });

  it('names the key path of a bad interval', () => {
    const text = VALID.replace(
      'interval: 10s',
      'interval: 10s\n  - id: other\n    type: system\n    interval: soon',
    );
    expect(issuesOf(text)).toContainEqual({
      path: 'devices[1].interval',
      message: expect.stringMatching(
        /^expected a duration like "30s" or a cron expression like "\*\/5 \* \* \* \*", got /,
      ) as string,
    });
  });

  it('refuses an open access model for the pubsub node, saying why', () => {
    expect(issuesOf(VALID.replace('service: pep', 'service: pep\n  accessModel: open'))).toEqual([
      {
        path: 'publish.accessModel',
        message:
          'open is refused: anyone could read the readings; use presence (PEP default), roster, whitelist or authorize, got "open"',
      },
    ]);
    expect(
      parse(VALID.replace('service: pep', 'service: pep\n  accessModel: roster')).publish.accessModel,
    ).toBe('roster');
  });

  it('accepts an interval of weeks (scheduled with chained timers), and refuses a read timeout over an hour', () => {
    expect(parse(VALID.replace('interval: 10s', 'interval: 4w')).devices[0]?.schedule).toEqual({
      kind: 'every',
      ms: 28 * 86_400_000,
    });
    expect(issuesOf(VALID.replace('interval: 10s', 'interval: 10s\n    timeout: 30d'))).toEqual([
      {
        path: 'devices[0].timeout',
        message:
          'a read timeout longer than 1h is refused; expected a duration up to 1h like "30s", got "30d"',
      },
    ]);
    expect(
      parse(VALID.replace('interval: 10s', 'interval: 10s\n    timeout: 1h')).devices[0]?.timeoutMs,
    ).toBe(3_600_000);
  });

  it('refuses reconnect and keepalive waits over an hour, and reports a malformed one once', () => {
    const text = VALID.replace(
      'resource: agent',
      'resource: agent\n  reconnect: { max: 30d }\n  keepalive: { interval: soon }',
    );
    expect(issuesOf(text)).toEqual([
      {
        path: 'xmpp.reconnect.max',
        message:
          'a reconnect delay longer than 1h is refused; expected a duration up to 1h like "30s", got "30d"',
      },
      { path: 'xmpp.keepalive.interval', message: 'expected a duration like "30s", got "soon"' },
    ]);
  });

  it('accepts cron expressions', () => {
    const c = parse(VALID.replace('interval: 10s', 'interval: "*/5 * * * *"'));
    expect(c.devices[0]?.schedule).toEqual({ kind: 'cron', expression: '*/5 * * * *' });
  });

  it('reports every problem at once, each with its path', () => {
    const text = VALID.replace('domain: localhost', 'domain: localhost\n  colour: blue')
      .replace('[alice@localhost]', '[alice]')
      .replace('type: system', 'type: toaster');
    const paths = issuesOf(text).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['xmpp.colour', 'owners[0]', 'devices[0].type']));
  });

  it('names a missing environment variable instead of using an empty password', () => {
    expect(issuesOf(VALID, {})).toContainEqual({
      path: 'xmpp.password',
      message: 'environment variable KITCHEN_PASSWORD is not set',
    });
  });

  it('rejects unknown fields, numeric filters on strings, duplicate ids and unknown options', () => {
    const text = VALID.replace(
      'fields: { load1: { filters: [ { delta: 0.05 } ] } }',
      'fields: { nope: {}, hostname: { filters: [ { round: 1 } ] } }\n    colour: red\n  - id: host\n    type: system',
    );
    const issues = issuesOf(text);
    expect(issues.map((i) => i.path)).toEqual(
      expect.arrayContaining([
        'devices[0].fields.nope',
        'devices[0].fields.hostname.filters[0]',
        'devices[0].colour',
        'devices[1].id',
      ]),
    );
  });

  it('words unknown keys, missing keys, bad filters and wrong types by their key path', () => {
    const text = VALID.replace('  username: kitchen\n', '  colour: blue\n')
      .replace('{ delta: 0.05 }', '{ ofset: 1 }, { round: 1, delta: 2 }, { round: 1.5 }')
      .replace('resource: agent', 'resource: agent\n  timeout: 3');
    const issues = issuesOf(text);
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'xmpp.username', message: 'is required' },
        {
          path: 'xmpp.colour',
          message:
            'unknown key (known: service, domain, username, password, resource, reconnect, timeout, tls, keepalive)',
        },
        { path: 'xmpp.timeout', message: 'expected a duration like "30s", got 3' },
        { path: 'devices[0].fields.load1.filters[0].ofset', message: 'unknown key (did you mean "offset"?)' },
        {
          path: 'devices[0].fields.load1.filters[1]',
          message: expect.stringContaining('a filter is a map with one key') as string,
        },
        { path: 'devices[0].fields.load1.filters[2].round', message: 'expected an integer, received 1.5' },
      ]),
    );
  });

  it('checks device options against the type and fills their defaults', () => {
    const text = VALID.replace(
      'fields: { load1: { filters: [ { delta: 0.05 } ] } }',
      'thermalZone: 3\n  - id: button\n    type: gpio_input\n    pin: 17\n  - id: pump\n    type: gpio_output',
    );
    expect(issuesOf(text)).toEqual([
      { path: 'devices[0].thermalZone', message: 'expected string, received 3' },
      { path: 'devices[2].pin', message: 'is required' },
    ]);
    const c = parse(
      text
        .replace('thermalZone: 3', 'thermalZone: "1"')
        .replace('type: gpio_output', 'type: gpio_output\n    pin: 22'),
    );
    expect(c.devices.map((d) => d.options)).toEqual([
      { thermalZone: '1' },
      { pin: 17, activeLow: false, debounce: '20ms' },
      { pin: 22, activeLow: false, initial: false },
    ]);
  });

  it('reports YAML syntax errors with line and column', () => {
    const issues = issuesOf('xmpp: [unclosed\n');
    expect(issues[0]?.path).toMatch(/^line \d+, column \d+$/);
  });

  it('never puts the password into error messages', () => {
    try {
      parse(VALID.replace('type: system', 'type: 42'));
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret');
      return;
    }
    throw new Error('expected an error');
  });
});
