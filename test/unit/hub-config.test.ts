import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { parseHubConfig } from '../../src/config/hub-config.js';
import { ConfigError } from '../../src/core/errors.js';

const errorsOf = (run: () => unknown): string => {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n').slice(1).join('\n');
    throw err;
  }
  return '';
};

describe('the hub config', () => {
  it('reads a component, a store relative to the file and the registry settings', () => {
    const config = parseHubConfig(
      'xmpp:\n  component: { service: "xmpp://127.0.0.1:5347", domain: Registry.localhost, secret: "${S}" }\nstore: data/hub.db\nregistry: { claimAttemptsPerMinute: 3 }\n',
      { env: { S: 'sec' }, sourcePath: '/etc/xiot/hub.yaml' },
    );
    expect(config).toEqual({
      xmpp: { component: { service: 'xmpp://127.0.0.1:5347', domain: 'registry.localhost', secret: 'sec' } },
      store: '/etc/xiot/data/hub.db',
      registry: { claimAttemptsPerMinute: 3 },
      log: { level: 'info' },
      history: {
        store: '/etc/xiot/data/history.db',
        retention: { rawMs: 30 * 86_400_000, aggregatesMs: 365 * 86_400_000, resolutionMs: 60_000 },
      },
    });
  });

  it('reads the fleet history: a file relative to the config, or a PostgreSQL URL as written, and retention', () => {
    const base = 'xmpp:\n  component: { service: "xmpp://127.0.0.1:5347", domain: r.localhost, secret: s }\n';
    const file = parseHubConfig(
      `${base}history: { store: h/fleet.db, retention: { raw: 7d, aggregates: 2w, resolution: 1h } }\n`,
      {
        sourcePath: '/etc/xiot/hub.yaml',
      },
    );
    expect(file.history).toEqual({
      store: '/etc/xiot/h/fleet.db',
      retention: { rawMs: 7 * 86_400_000, aggregatesMs: 14 * 86_400_000, resolutionMs: 3_600_000 },
    });
    const pg = parseHubConfig(`${base}history: { store: "\${HISTORY_URL}" }\n`, {
      env: { HISTORY_URL: 'postgresql://hub:pw@db.example.org/fleet' },
      sourcePath: '/etc/xiot/hub.yaml',
    });
    expect(pg.history.store).toBe('postgresql://hub:pw@db.example.org/fleet');
    expect(pg.store).toBe('/etc/xiot/hub.db'); // the registry stays in SQLite
    expect(
      errorsOf(() =>
        parseHubConfig(
          `${base}history: { retention: { raw: 30d, aggregates: 1d, resolution: 500ms }, stor: x }\n`,
        ),
      ),
    ).toMatch(/history: unknown key "stor"|history\.stor/);
    expect(
      errorsOf(() =>
        parseHubConfig(`${base}history: { retention: { raw: 30d, aggregates: 1d, resolution: 500ms } }\n`),
      ),
    ).toBe(
      '  history.retention.aggregates: must be at least as long as raw\n  history.retention.resolution: expected whole seconds, at least 1s (e.g. "1m")',
    );
    expect(errorsOf(() => parseHubConfig(`${base}history: { retention: { raw: soon } }\n`))).toMatch(
      /history\.retention\.raw: expected a duration like "30s"/,
    );
  });

  it('accepts the example of README "Fleet: claiming"', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = /```yaml\n(# hub\.yaml[\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    expect(parseHubConfig(example as string, { env: { REGISTRY_SECRET: 's' } }).xmpp.component).toEqual({
      service: 'xmpp://127.0.0.1:5347',
      domain: 'registry.example.org',
      secret: 's',
    });
  });

  it('names every problem by its key path', () => {
    expect(
      errorsOf(() =>
        parseHubConfig(
          'xmpp:\n  component: { service: "wss://x", domain: "a@b", secret: "" }\nregistry: { claimAttemptsPerMinute: 0, other: 1 }\n',
        ),
      ),
    ).toBe(
      [
        '  xmpp.component.service: expected the component port as "xmpp://host:port", got "wss://x"',
        '  xmpp.component.domain: expected a domain like "registry.example.org", got "a@b"',
        '  xmpp.component.secret: must not be empty (write ${ENV_VARIABLE} to keep it out of the file)',
        '  registry.claimAttemptsPerMinute: at least 1, got 0',
        '  registry.other: unknown key (known: claimAttemptsPerMinute)',
      ].join('\n'),
    );
  });
});

describe('the agent config registry key', () => {
  const HEAD =
    'xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: pw }\ndevices: [{ id: host, type: system }]\n';
  const parse = (text: string) =>
    parseAgentConfig(`${HEAD}${text}`, { definitions: builtinDevices, env: {} });

  it('takes a JID, or a JID with meta tags (numbers become num tags, names upper-cased)', () => {
    expect(parse('registry: Registry.localhost\n').registry).toEqual({ jid: 'registry.localhost', tags: {} });
    expect(parse('registry: { jid: r.localhost, tags: { room: hall, floor: 2 } }\n').registry).toEqual({
      jid: 'r.localhost',
      tags: { ROOM: 'hall', FLOOR: 2 },
    });
  });

  it('refuses tag names the registry would refuse, and KEY', () => {
    expect(errorsOf(() => parse('registry: { jid: r.localhost, tags: { "a:b": x, key: y } }\n'))).toContain(
      "tag names are 1 to 32 characters without ':', '#' or whitespace",
    );
    expect(errorsOf(() => parse('registry: { jid: r.localhost, tags: { key: y } }\n'))).toContain(
      'KEY is generated by the agent',
    );
    expect(errorsOf(() => parse('registry: { jid: r.localhost, tags: { room: a, ROOM: b } }\n'))).toContain(
      'a name is given twice',
    );
  });
});
