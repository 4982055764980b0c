import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import type { Agent } from '../../src/agent/agent.js';
import { openStore } from '../../src/store/store.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { type Gate, startGate } from '../helpers/gate.js';
import { servers } from '../helpers/servers.js';

describe.each(servers())('publishing across a server restart (%s)', (kind) => {
  let server: XmppServer | undefined;
  let agent: Agent | undefined;
  let owner: TestClient | undefined;
  let gate: Gate | undefined;
  const dir = tempDir();

  afterAll(async () => {
    await owner?.stop();
    await gate?.close();
    await server?.stop();
    dir.remove();
  });

  it('delivers every reading produced while the server was down, in order, none duplicated', async () => {
    server = await startServer(kind, {
      accounts: [
        { username: 'kitchen', password: 'agent-secret' },
        { username: 'alice', password: 'alice-secret' },
      ],
    });
    owner = await startClient(server, 'alice', 'alice-secret', { approve: ['kitchen@localhost'] });
    const config = agentConfig(server, {
      username: 'kitchen',
      password: 'agent-secret',
      owners: ['alice@localhost'],
      store: `${dir.path}/kitchen.db`,
      // One field every 500 ms (~750 bytes a publish, ~1.5 KB/s) stays under ejabberd's c2s shaper (Debian's
      // 3000 B/s, burst 20000): a full system reading every 100 ms (~13 KB/s) outruns it, and the backlog of a
      // restart (6-10 s for ejabberd) could never drain.
      devicesYaml: `
  - id: host
    type: system
    interval: 500ms
    fields:
${['load1', 'load5', 'load15', 'memTotal', 'memAvailable', 'memUsed', 'cpuTemperature', 'hostname'].map((f) => `      ${f}: { enabled: false }`).join('\n')}`,
    });
    // The owner comes back first after the restart (PEP notifies only contacts that are online).
    // The agent reaches the server through a gate the test holds shut until the owner is back: PEP does not
    // redeliver, so the backlog is for owners online when it goes out.
    gate = await startGate(server.c2sPort);
    config.xmpp.service = `xmpp://127.0.0.1:${gate.port}`;
    config.xmpp.reconnect = { minMs: 1000, maxMs: 2000 };
    agent = await startAgent(config);
    await owner.sensors.subscribe('kitchen@localhost');
    const o = owner;
    // Generous: on ejabberd the agent's login (SCRAM, 4096 iterations) and the friendship take seconds on a busy CI.
    const first = await waitFor('a first notification', () => o.notifications[0], 30_000);
    const startTs = first.fields[0]!.timestamp;

    await waitFor('a few more readings', () => o.notifications.length >= 5);
    const backOnline = { owner: 0, agent: 0 };
    o.transport.on('online', () => (backOnline.owner ||= Date.now()));
    agent.transport.on('online', () => (backOnline.agent ||= Date.now()));
    gate.hold();
    await server.shutdown(); // a restart, not a crash (ejabberd's mnesia may lose its last writes on SIGKILL)
    const downAt = Date.now();
    const agentWhileDown = agent;
    await waitFor(
      'ten readings kept in the outbox while the server is gone',
      () => agentWhileDown.store.outboxDepth() >= 10,
    );
    await server.start();
    const upAt = Date.now();
    await waitFor('the owner back online', () => o.transport.online, 15_000);
    gate.release();
    await waitFor('the agent back online', () => agent?.transport.online, 15_000);
    // The premise: the owner was online again before the backlog went out (PEP only notifies online contacts).
    expect(backOnline.owner).toBeGreaterThan(0);
    expect(backOnline.agent).toBeGreaterThan(backOnline.owner);
    const a = agent;
    await waitFor('the outbox drained', () => a.store.outboxDepth() === 0, 10_000);
    await a.stop({ drainMs: 10_000 });
    agent = undefined;

    const store = openStore(`${dir.path}/kitchen.db`);
    const all = store.history({ deviceIds: ['host'], limit: 100_000 });
    expect(store.outboxDepth()).toBe(0);
    store.close();
    const produced = all.filter((r) => r.timestamp >= startTs).map((r) => r.timestamp);
    await waitFor(
      'every produced reading at the owner',
      () => o.notifications.length >= produced.length,
      10_000,
    ).catch(() => undefined);
    const received = o.notifications.map((n) => n.fields[0]!.timestamp);
    expect(produced.some((ts) => ts > downAt && ts < upAt)).toBe(true);
    expect(new Set(received).size).toBe(received.length); // none duplicated
    expect(received).toEqual(produced); // every one, in order
    // ejabberd takes 3-10 s to start (twice here) where Prosody takes 0.5 s.
  }, 90_000);
});
