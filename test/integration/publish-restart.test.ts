/**
 * A slow server is not a failed one (issue 12): a reading every second, the server restarted (killed, started
 * again) with a backlog the agent sends afterwards, under ejabberd's default c2s shaper (Debian's 3000 B/s, burst
 * 20000). Every reading must reach the subscribed owner, once, in order. Publishes given up on after an IQ
 * timeout and sent again used to reach owners twice. ~2.5 min on ejabberd (a 70 s outage, then the drain).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import type { Agent } from '../../src/agent/agent.js';
import { openStore } from '../../src/store/store.js';
import { DEFAULT_RECONNECT } from '../../src/xmpp/transport.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { type Gate, startGate } from '../helpers/gate.js';
import { servers } from '../helpers/servers.js';

/**
 * Readings kept while the server is down (~1.4 KB each). 70 outlast the shaper's burst: the second window of 32
 * publishes then takes ~15 s. With a 10 s IQ timeout on publishes (before issue 12) this backlog never drained
 * on ejabberd; without one it drains in ~53 s at the shaper's rate, a reading a second still arriving.
 */
const BACKLOG = 70;

describe.each(servers())('a reading per second across a restart of %s', (kind) => {
  let server: XmppServer | undefined;
  let agent: Agent | undefined;
  let owner: TestClient | undefined;
  let gate: Gate | undefined;
  const dir = tempDir();

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await owner?.stop();
    await gate?.close();
    await server?.stop();
    dir.remove();
  });

  it('delivers every reading to the subscribed owner once, in order, with default agent settings', async () => {
    server = await startServer(kind, {
      accounts: [
        { username: 'kitchen', password: 'kitchen-pw' },
        { username: 'alice', password: 'alice-pw' },
      ],
    });
    owner = await startClient(server, 'alice', 'alice-pw', { approve: ['kitchen@localhost'] });
    const o = owner;
    const config = agentConfig(server, {
      username: 'kitchen',
      password: 'kitchen-pw',
      owners: ['alice@localhost'],
      store: `${dir.path}/kitchen.db`,
      devicesYaml: '  - { id: host, type: system, interval: 1s }',
    });
    config.xmpp.reconnect = DEFAULT_RECONNECT; // agentConfig shortens it for other suites
    // Through a gate the test holds shut until the owner is back online: PEP notifies only contacts online when
    // the backlog goes out (no redelivery), so the owner must be back first for "every reading" to be possible.
    gate = await startGate(server.c2sPort);
    config.xmpp.service = `xmpp://127.0.0.1:${gate.port}`;
    agent = await startAgent(config);
    const a = agent;
    await o.sensors.subscribe('kitchen@localhost');
    const first = await waitFor('a first notification', () => o.notifications[0]);
    const startTs = first.fields[0]!.timestamp;
    await waitFor('three readings at the owner', () => o.notifications.length >= 3);

    gate.hold();
    await server.shutdown(); // a restart, not a crash (ejabberd's mnesia may lose its last writes on SIGKILL)
    await waitFor(
      `${BACKLOG} readings kept while the server is down`,
      () => a.store.outboxDepth() >= BACKLOG,
      (BACKLOG + 20) * 1000,
    );
    await server.start();
    await waitFor('the owner back online', () => o.transport.online, 30_000);
    gate.release();
    await waitFor('the agent back online', () => a.transport.online, 30_000);
    await waitFor('the backlog sent', () => a.store.outboxDepth() === 0, 60_000);
    await waitFor('three readings after the backlog', () => a.status().published >= BACKLOG + 6, 10_000);
    await a.stop({ drainMs: 10_000 });
    agent = undefined;

    const store = openStore(`${dir.path}/kitchen.db`);
    const produced = store
      .history({ deviceIds: ['host'], limit: 100_000 })
      .filter((r) => r.timestamp >= startTs)
      .map((r) => r.timestamp);
    store.close();
    await waitFor(
      'every reading at the owner',
      () => o.notifications.length >= produced.length,
      10_000,
    ).catch(() => undefined);
    const received = o.notifications.map((n) => n.fields[0]!.timestamp);
    expect(produced.length).toBeGreaterThanOrEqual(BACKLOG + 6);
    expect(received.length - new Set(received).size).toBe(0); // none twice
    expect(received).toEqual(produced); // every one, in order
  }, 300_000);
});
