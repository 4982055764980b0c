/**
 * No reply from a server ends the agent (issue 12): publishes refused by a real server (the account may not
 * publish to another account's PEP service), and by a scripted server that refuses every pubsub request or
 * answers with malformed errors. In each case the agent stays online, logs the failure once (not per reading),
 * keeps the readings in its outbox, and answers readouts.
 */
import type { Element } from '@xmpp/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { type Agent, createAgent } from '../../src/agent/agent.js';
import { NS } from '../../src/xmpp/ns.js';
import { agentConfig, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { captureLogger, type LogEntry } from '../helpers/log-capture.js';
import { type ScriptedServer, startScriptedServer } from '../helpers/scripted-server.js';
import { servers } from '../helpers/servers.js';

const FAILED = 'publishing failed; readings stay in the outbox';
const DEVICES = '  - { id: host, type: system, interval: 100ms }';

/** Watches the process for unhandled rejections while a test runs. */
function watchUnhandled(): { reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const on = (reason: unknown) => reasons.push(reason);
  process.on('unhandledRejection', on);
  return { reasons, stop: () => process.off('unhandledRejection', on) };
}

/** Samples `agent` for `ms`: was it online at every sample? */
async function onlineThroughout(agent: Agent, ms: number): Promise<boolean> {
  let always = true;
  for (const end = Date.now() + ms; Date.now() < end;) {
    always &&= agent.transport.online;
    await new Promise((r) => setTimeout(r, 100));
  }
  return always;
}

const failuresLogged = (entries: LogEntry[]) => entries.filter((e) => e.msg === FAILED).length;

describe.each(servers())('publishes refused by a real server (%s)', (kind) => {
  let server: XmppServer;
  let owner: TestClient;
  let agent: Agent;
  let entries: LogEntry[];
  const dir = tempDir();
  const unhandled = watchUnhandled();

  beforeAll(async () => {
    server = await startServer(kind, {
      accounts: ['kitchen', 'alice', 'mallory'].map((u) => ({ username: u, password: `${u}-pw` })),
    });
    owner = await startClient(server, 'alice', 'alice-pw', { approve: ['kitchen@localhost'] });
    const captured = captureLogger('info');
    entries = captured.entries;
    agent = createAgent(
      agentConfig(server, {
        username: 'kitchen',
        password: 'kitchen-pw',
        owners: ['alice@localhost'],
        store: `${dir.path}/kitchen.db`,
        // Another account's PEP service: neither server lets us create, configure or publish there.
        extraYaml: 'publish: { service: mallory@localhost }',
        devicesYaml: DEVICES,
      }),
      { log: captured.log },
    );
    await agent.start();
  });
  afterAll(async () => {
    unhandled.stop();
    await agent?.stop({ drainMs: 0 });
    await owner?.stop();
    await server?.stop();
    dir.remove();
  });

  it('stays online, logs the failure once, keeps every reading in the outbox, and answers readouts', async () => {
    await waitFor('the first refusal', () => failuresLogged(entries) > 0);
    expect(await onlineThroughout(agent, 3000)).toBe(true);
    expect(failuresLogged(entries)).toBe(1);
    expect(agent.status()).toMatchObject({ published: 0, lastPublishError: expect.any(String) });
    expect(agent.store.outboxDepth()).toBeGreaterThanOrEqual(20);
    const result = await owner.sensors.readout(agent.transport.jid as string);
    expect(result.fields.length).toBeGreaterThan(0);
    expect(unhandled.reasons).toEqual([]);
  });
});

/** What a scripted server answers to the agent's pubsub requests. */
const REFUSALS: Record<string, string> = {
  'an error for each': `<error type='cancel'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`,
  'an error without an <error/>': `<pubsub xmlns='${NS.pubsub}'/>`,
  'an error with a condition nobody defined': `<error type='odd'><banana xmlns='urn:example:fruit'/></error>`,
};

describe.each(Object.keys(REFUSALS))(
  'a scripted server answering every pubsub request with %s',
  (refusal) => {
    let server: ScriptedServer;
    let agent: Agent | undefined;
    let entries: LogEntry[];
    const dir = tempDir();
    const readouts: Element[] = [];
    let unhandled: ReturnType<typeof watchUnhandled>;

    beforeAll(async () => {
      unhandled = watchUnhandled();
      server = await startScriptedServer({
        onElement: (el, conn) => {
          if (el.is('message') && el.getChild('fields', NS.sensordata)) readouts.push(el);
          if (!el.is('iq')) return;
          if (el.attrs.type === 'result' && el.getChild('accepted', NS.sensordata)) readouts.push(el);
          if (el.attrs.type !== 'get' && el.attrs.type !== 'set') return;
          if (el.getChild('pubsub', NS.pubsub) || el.getChild('pubsub', NS.pubsubOwner))
            conn.reply(el, 'error', REFUSALS[refusal]);
          else if (el.getChild('query', 'jabber:iq:roster'))
            conn.reply(el, 'result', `<query xmlns='jabber:iq:roster'/>`);
          else conn.reply(el, 'result');
        },
      });
      const captured = captureLogger('info');
      entries = captured.entries;
      const config = parseAgentConfig(
        `
xmpp: { service: '${server.service}', domain: localhost, username: agent, password: pw, resource: agent }
owners: [alice@localhost]
store: ${dir.path}/agent.db
devices:
${DEVICES}
`,
        { definitions: builtinDevices, env: {} },
      );
      agent = createAgent(config, { log: captured.log });
      await agent.start();
    });
    afterAll(async () => {
      unhandled.stop();
      await agent?.stop({ drainMs: 0 });
      await server?.close();
      dir.remove();
    });

    it('stays online, logs the failure once, keeps every reading in the outbox, and answers readouts', async () => {
      const a = agent as Agent;
      await waitFor('the first refusal', () => failuresLogged(entries) > 0);
      expect(await onlineThroughout(a, 3000)).toBe(true);
      expect(failuresLogged(entries)).toBe(1);
      expect(a.status().published).toBe(0);
      expect(a.store.outboxDepth()).toBeGreaterThanOrEqual(20);
      const conn = server.connections.at(-1);
      conn?.write(
        `<iq type='get' id='r1' from='alice@localhost/phone' to='agent@localhost/agent'>` +
          `<req xmlns='${NS.sensordata}' seqnr='7' momentary='true'/></iq>`,
      );
      await waitFor('the readout answered (accepted, then fields)', () => readouts.length >= 2);
      expect(readouts[0]?.attrs).toMatchObject({ type: 'result', id: 'r1' });
      expect(readouts[1]?.getChild('fields', NS.sensordata)?.attrs.seqnr).toBe('7');
      expect(unhandled.reasons).toEqual([]);
    });
  },
);
