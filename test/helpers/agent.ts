/** Starts real agents and real owner clients against a test XMPP server (Prosody or ejabberd). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Element } from '@xmpp/xml';
import { builtinDevices } from '../../devices/index.js';
import { type AgentConfig, parseAgentConfig } from '../../src/config/agent-config.js';
import { createLogger, type Logger, silentLogger } from '../../src/core/logger.js';
import type { XmppServer } from '../../src/devtools/xmpp-server.js';
import { type Agent, createAgent } from '../../src/agent/agent.js';
import type { DeviceDefinition } from '../../src/sdk/index.js';
import { createSensorClient, type Notification } from '../../src/operator/sensor-client.js';
import { createTransport, type TlsPolicy, type Transport } from '../../src/xmpp/transport.js';

export function testLogger(): Logger {
  return process.env.XIOT_TEST_LOG
    ? createLogger({ level: process.env.XIOT_TEST_LOG as 'debug' })
    : silentLogger();
}

export function tempDir(prefix = 'xiot-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A config for an agent account on the test server; `devicesYaml` is the `devices:` list body. */
export function agentConfig(
  server: XmppServer,
  opts: {
    username: string;
    password: string;
    owners: string[];
    store: string;
    devicesYaml: string;
    extraYaml?: string;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- device option types differ
    extraDefinitions?: DeviceDefinition<any>[];
  },
): AgentConfig {
  const text = `
xmpp:
  service: ${server.service}
  domain: ${server.domain}
  username: ${opts.username}
  password: \${AGENT_PASSWORD}
  resource: agent
  reconnect: { min: 200ms, max: 1s }
owners: [${opts.owners.join(', ')}]
store: ${opts.store}
${opts.extraYaml ?? ''}
devices:
${opts.devicesYaml}
`;
  return parseAgentConfig(text, {
    definitions: [...builtinDevices, ...(opts.extraDefinitions ?? [])],
    env: { AGENT_PASSWORD: opts.password },
  });
}

export async function startAgent(config: AgentConfig, log = testLogger()): Promise<Agent> {
  const agent = createAgent(config, { log });
  await agent.start();
  return agent;
}

export interface TestClient {
  transport: Transport;
  sensors: ReturnType<typeof createSensorClient>;
  notifications: Notification[];
  /** Every presence stanza received, in order. */
  presences: Element[];
  stop(): Promise<void>;
}

/** An owner-style client: announces +notify caps, approves subscriptions from `approve`, records notifications. */
export async function startClient(
  server: XmppServer,
  username: string,
  password: string,
  opts: { approve?: string[]; resource?: string; tls?: TlsPolicy } = {},
): Promise<TestClient> {
  const transport = createTransport(
    {
      service: server.service,
      domain: server.domain,
      username,
      password,
      resource: opts.resource ?? 'client',
      reconnect: { minMs: 100, maxMs: 500 },
      ...(opts.tls ? { tls: opts.tls } : {}),
    },
    testLogger(),
  );
  const approve = new Set(opts.approve ?? []);
  const sensors = createSensorClient({ transport, log: testLogger(), approve: (jid) => approve.has(jid) });
  const notifications: Notification[] = [];
  const presences: Element[] = [];
  sensors.onNotification((n) => notifications.push(n));
  transport.on('stanza', (s: Element) => {
    if (s.is('presence')) presences.push(s);
  });
  transport.on('online', () => void sensors.announce());
  await transport.start();
  return { transport, sensors, notifications, presences, stop: () => transport.stop() };
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
