import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { hubJid, parseHubConfig } from '../../src/config/hub-config.js';
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
      provisioning: { askTimeoutMs: 5000, pendingForMs: 86_400_000, maxPendingPerOwner: 50 },
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

  it('reads the things to ingest besides the claimed ones: bare JIDs, lower-cased, once each', () => {
    const base = 'xmpp:\n  component: { service: "xmpp://127.0.0.1:5347", domain: r.localhost, secret: s }\n';
    expect(
      parseHubConfig(`${base}things: [Kitchen@Example.org, kitchen@example.org, hall@example.org]\n`).things,
    ).toEqual(['kitchen@example.org', 'hall@example.org']);
    expect(parseHubConfig(base).things).toBeUndefined();
    expect(errorsOf(() => parseHubConfig(`${base}things: [kitchen@example.org/agent, example.org]\n`))).toBe(
      [
        '  things[0]: expected a bare JID like "kitchen@example.org", got "kitchen@example.org/agent"',
        '  things[1]: expected a bare JID like "kitchen@example.org", got "example.org"',
      ].join('\n'),
    );
  });

  it('reads the provisioning settings, refusing an askTimeout a thing would give up on', () => {
    const base = 'xmpp:\n  component: { service: "xmpp://127.0.0.1:5347", domain: r.localhost, secret: s }\n';
    expect(
      parseHubConfig(`${base}provisioning: { askTimeout: 2s, pendingFor: 2h, maxPendingPerOwner: 5 }\n`)
        .provisioning,
    ).toEqual({ askTimeoutMs: 2000, pendingForMs: 7_200_000, maxPendingPerOwner: 5 });
    expect(
      errorsOf(() =>
        parseHubConfig(
          `${base}provisioning: { askTimeout: 10s, pendingFor: 1s, maxPendingPerOwner: 0, x: 1 }\n`,
        ),
      ),
    ).toBe(
      [
        '  provisioning.askTimeout: expected a duration from 0s to 9s, got "10s"',
        '  provisioning.pendingFor: expected a duration from 1m to 30d, got "1s"',
        '  provisioning.maxPendingPerOwner: at least 1, got 0',
        '  provisioning.x: unknown key (known: askTimeout, pendingFor, maxPendingPerOwner)',
      ].join('\n'),
    );
  });

  it('accepts the example of README "Fleet: claiming and permissions"', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = /```yaml\n(# hub\.yaml[\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    expect(parseHubConfig(example as string, { env: { REGISTRY_SECRET: 's' } }).xmpp.component).toEqual({
      service: 'xmpp://127.0.0.1:5347',
      domain: 'registry.example.org',
      secret: 's',
    });
  });

  it('accepts the account-mode example of README "Fleet: claiming and permissions"', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = /```yaml\n(# hub-account\.yaml[\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const config = parseHubConfig(example as string, { env: { HUB_PASSWORD: 'p' } });
    expect(config.xmpp.account).toMatchObject({ domain: 'example.org', username: 'hub', password: 'p' });
    expect(hubJid(config)).toBe('hub@example.org');
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

describe('the hub config in account mode', () => {
  it('reads an account, with the resource "hub" and the standard client port by default', () => {
    const config = parseHubConfig(
      'xmpp:\n  account: { domain: Example.org, username: hub, password: "${P}" }\n',
      { env: { P: 'pw' }, sourcePath: '/etc/xiot/hub.yaml' },
    );
    expect(config.xmpp).toEqual({
      account: {
        service: 'xmpp://example.org:5222',
        domain: 'example.org',
        username: 'hub',
        password: 'pw',
        resource: 'hub',
      },
    });
    expect(hubJid(config)).toBe('hub@example.org');
  });

  it('keeps the service, resource and TLS policy given', () => {
    const config = parseHubConfig(
      'xmpp:\n  account: { service: "xmpps://xmpp.example.org:5223", domain: example.org, username: reg, password: p, resource: r1, tls: required }\n',
    );
    expect(config.xmpp.account).toMatchObject({
      service: 'xmpps://xmpp.example.org:5223',
      resource: 'r1',
      tls: 'required',
    });
  });

  it('wants exactly one of component and account', () => {
    const both =
      'xmpp:\n  component: { service: "xmpp://127.0.0.1:5347", domain: r.localhost, secret: s }\n  account: { domain: localhost, username: hub, password: p }\n';
    const exactly =
      '  xmpp: give exactly one of component (an XEP-0114 component: service, domain, secret) or account (a plain XMPP account: domain, username, password)';
    expect(errorsOf(() => parseHubConfig(both))).toBe(exactly); // and no secret echoed
    expect(errorsOf(() => parseHubConfig('xmpp: {}\n'))).toBe(exactly);
  });

  it('names every problem of an account by its key path, and refuses a missing secret', () => {
    expect(
      errorsOf(() =>
        parseHubConfig(
          'xmpp:\n  account: { service: "http://x", domain: "a@b", username: "hub@example.org", password: "${NOPE}", tls: maybe, port: 1 }\n',
          { env: {} },
        ),
      ),
    ).toBe(
      [
        '  xmpp.account.password: environment variable NOPE is not set',
        '  xmpp.account.service: expected a URI like "xmpp://host:5222", "xmpps://host:5223" or "wss://host/xmpp-websocket", got "http://x"',
        '  xmpp.account.domain: expected a domain like "example.org", got "a@b"',
        '  xmpp.account.username: expected the local part only, like "hub" (the JID is username@domain), got "hub@example.org"',
        '  xmpp.account.tls: expected "required", "optional" or "off", got "maybe"',
        '  xmpp.account.port: unknown key (known: service, domain, username, password, resource, tls)',
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
