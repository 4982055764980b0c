import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { ConfigError } from '../../src/core/errors.js';
import { backoffDelay } from '../../src/core/duration.js';
import { DEFAULT_RECONNECT, defaultTlsPolicy, isLoopbackHost } from '../../src/xmpp/transport.js';

const parse = (xmppYaml: string) =>
  parseAgentConfig(
    `xmpp:\n  domain: example.org\n  username: kitchen\n  password: s\n${xmppYaml}\ndevices:\n  - { id: host, type: system }\n`,
    { definitions: builtinDevices },
  ).xmpp;

describe('xmpp connection settings', () => {
  it('requires TLS by default off loopback, and not on loopback', () => {
    expect(parse('  service: xmpp://xmpp.example.org:5222').tls).toBe('required');
    expect(parse('  service: xmpp://vm:5222').tls).toBe('required');
    expect(parse('  service: exi://hub.lan:5299').tls).toBe('required');
    expect(parse('  service: xmpp://127.0.0.1:5222').tls).toBe('optional');
    expect(parse('  service: xmpp://localhost:5222').tls).toBe('optional');
    expect(parse('  service: xmpp://[::1]:5222').tls).toBe('optional');
  });

  it('applies tls: optional or off off loopback only when written', () => {
    expect(parse('  service: xmpp://xmpp.example.org\n  tls: optional').tls).toBe('optional');
    expect(parse('  service: xmpp://xmpp.example.org\n  tls: off').tls).toBe('off');
    expect(parse('  service: xmpp://127.0.0.1\n  tls: required').tls).toBe('required');
  });

  it('refuses an unknown tls value with its key path', () => {
    expect(() => parse('  service: xmpp://x.org\n  tls: maybe')).toThrow(ConfigError);
    expect(() => parse('  service: xmpp://x.org\n  tls: maybe')).toThrow(
      /xmpp.tls: expected "required", "optional" or "off"/,
    );
  });

  it('has keepalive and reconnect defaults, and reads both', () => {
    const d = parse('  service: xmpp://x.org');
    expect(d.keepalive).toEqual({ intervalMs: 60_000, timeoutMs: 30_000 });
    expect(d.reconnect).toEqual({ minMs: 1000, maxMs: 8000 });
    expect(parse('  service: xmpp://x.org\n  keepalive: { interval: 20s, timeout: 10s }').keepalive).toEqual({
      intervalMs: 20_000,
      timeoutMs: 10_000,
    });
  });

  it('never waits more than 8 s between attempts after a network failure, with default settings', () => {
    // Hence online within 10 s of the server accepting again (plus one login, well under a second here).
    for (let attempt = 0; attempt < 40; attempt++) {
      for (const r of [0, 0.5, 0.999999]) {
        expect(
          backoffDelay(attempt, DEFAULT_RECONNECT.minMs, DEFAULT_RECONNECT.maxMs, () => r),
        ).toBeLessThanOrEqual(8000);
      }
    }
  });
});

describe('isLoopbackHost', () => {
  it('judges the name as written', () => {
    for (const h of [
      'localhost',
      'LOCALHOST',
      'a.localhost',
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
    ])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['vm', 'localhost.example.org', '10.0.0.1', '128.0.0.1', '::2', 'example.org', ''])
      expect(isLoopbackHost(h), h).toBe(false);
    expect(defaultTlsPolicy('wss://example.org/xmpp-websocket')).toBe('required');
  });
});
