import { xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { type Agent, createAgent } from '../../src/agent/agent.js';
import { agentConfig, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { captureLogger, type LogEntry, sentStanzas } from '../helpers/log-capture.js';
import { servers } from '../helpers/servers.js';

const NS_ROSTER = 'jabber:iq:roster';

describe.each(servers())('the roster of an agent (%s)', (kind) => {
  let server: XmppServer;
  let owner: TestClient;
  let sibling: TestClient;
  let stranger: TestClient;
  const agents: Agent[] = [];
  const dir = tempDir();

  async function startLoggedAgent(): Promise<{ agent: Agent; entries: LogEntry[] }> {
    const { log, entries } = captureLogger('trace');
    const config = agentConfig(server, {
      username: 'kitchen',
      password: 'kitchen-pw',
      owners: ['alice@localhost'],
      store: `${dir.path}/kitchen.db`,
      devicesYaml: '  - { id: host, type: system, interval: 1h }',
    });
    const agent = createAgent(config, { log });
    agents.push(agent);
    await agent.start();
    return { agent, entries };
  }
  /** Subscription presences the agent sent to the owner. */
  const friendshipRequests = (entries: LogEntry[]) =>
    sentStanzas(entries).filter(
      (s) => /^<presence[^>]*type="subscribed?"/.test(s) && s.includes('alice@localhost'),
    );
  /** Settles once the roster has been read and what it lacked asked for (the log line after the requests). */
  const reconciled = (entries: LogEntry[]) =>
    waitFor('the roster read', () =>
      sentStanzas(entries).some((s) => s.startsWith('<iq type="get"') && s.includes(NS_ROSTER)),
    ).then(() => new Promise((r) => setTimeout(r, 500)));

  beforeAll(async () => {
    server = await startServer(kind, {
      accounts: ['kitchen', 'alice', 'mallory'].map((u) => ({ username: u, password: `${u}-pw` })),
    });
    owner = await startClient(server, 'alice', 'alice-pw', { approve: ['kitchen@localhost'] });
    stranger = await startClient(server, 'mallory', 'mallory-pw');
  });
  afterAll(async () => {
    for (const a of agents) await a.stop({ drainMs: 0 }).catch(() => undefined);
    for (const c of [owner, sibling, stranger]) await c?.stop();
    await server?.stop();
    dir.remove();
  });

  it("asks a new owner for friendship, and answers the server's roster pushes with a result", async () => {
    const { agent, entries } = await startLoggedAgent();
    await reconciled(entries);
    // Pre-approval (RFC 6121 §3.4) only where the server offers it: Prosody 0.12 does. ejabberd 23.01 does not,
    // and forwards an unasked `subscribed` as it is: an owner whose own request was on its way took it as the
    // approval before the agent's roster recorded one, so ejabberd never learnt the owner's caps (no PEP).
    expect(agent.transport.preApproval).toBe(kind === 'prosody');
    expect(friendshipRequests(entries).map((s) => /type="(\w+)"/.exec(s)?.[1])).toEqual(
      kind === 'prosody' ? ['subscribed', 'subscribe'] : ['subscribe'],
    );
    await owner.sensors.subscribe('kitchen@localhost');
    await waitFor('the owner and the agent friends both ways', async () => {
      const roster = await owner.transport.request(
        xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })),
      );
      const item = roster
        .getChild('query')
        ?.getChildren('item')
        .find((i) => i.attrs.jid === 'kitchen@localhost');
      return item?.attrs.subscription === 'both';
    });
    await reconciled(entries);
    expect(friendshipRequests(entries).length).toBeGreaterThan(0);
    // Pushes (iq set, jabber:iq:roster) arrived as the subscription changed; each was acknowledged.
    const pushIds = entries
      .filter(
        (e) =>
          e.dir === 'in' &&
          typeof e.msg === 'string' &&
          e.msg.includes(NS_ROSTER) &&
          e.msg.includes('type="set"'),
      )
      .map((e) => /id="([^"]+)"/.exec(e.msg as string)?.[1]);
    expect(pushIds.length).toBeGreaterThan(0);
    for (const id of pushIds) {
      const reply = sentStanzas(entries).find((s) => s.includes(`id="${id}"`));
      expect(reply).toMatch(/type="result"/);
      expect(reply).not.toContain('<error');
    }
    await agent.stop({ drainMs: 0 });
  });

  it('sends no subscription requests after a restart when the roster says both ways', async () => {
    const { entries } = await startLoggedAgent();
    await reconciled(entries);
    expect(friendshipRequests(entries)).toEqual([]);
  });

  it('answers a roster push from our own account, and refuses one from anyone else (RFC 6121 §2.1.6)', async () => {
    const agent = agents.at(-1) as Agent;
    // Another resource of the agent's account; it would refuse subscriptions for the agent, so it starts late.
    sibling = await startClient(server, 'kitchen', 'kitchen-pw', { resource: 'sibling' });
    const push = () =>
      xml(
        'iq',
        { type: 'set', to: agent.transport.jid },
        xml('query', { xmlns: NS_ROSTER }, xml('item', { jid: 'bob@localhost', subscription: 'none' })),
      );
    await expect(sibling.transport.request(push())).resolves.toMatchObject({ attrs: { type: 'result' } });
    await expect(stranger.transport.request(push())).rejects.toMatchObject({
      condition: 'service-unavailable',
    });
  });
});
