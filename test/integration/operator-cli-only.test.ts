/**
 * An owner whose only client is `xiot` (issue 12 item 7): no other client of the owner's ever logs in, so
 * nothing approves the agent's subscription request behind the CLI's back (slixmpp would: interop.md).
 * Each owner's first command is the one under test, in both orders of first logins.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import type { Agent } from '../../src/agent/agent.js';
import { agentConfig, startAgent, startClient, tempDir } from '../helpers/agent.js';
import { CLI, operatorEnv, runToExit } from '../helpers/cli.js';
import { servers } from '../helpers/servers.js';

const OWNERS = ['alice', 'bob', 'carol', 'dave', 'erin'];

const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { from: string; device: string });

describe.each(servers())('an owner who has only the xiot CLI (%s)', (kind) => {
  let server: XmppServer;
  const dir = tempDir();
  let agent: Agent | undefined;
  const run = (user: string, args: string[], env: Record<string, string> = {}) =>
    runToExit(process.execPath, [CLI, ...args], { ...operatorEnv(server, dir.path, user), ...env });
  /** `xiot devices --json` run as `user` lists the agent online, a contact both ways. */
  const expectHallListedBy = async (user: string) => {
    const listed = await run(user, ['devices', '--json']);
    expect(JSON.parse(listed.stdout)).toContainEqual(
      expect.objectContaining({
        jid: 'hall@localhost',
        online: 'hall@localhost/agent',
        subscription: 'subscribed',
      }),
    );
  };
  const startHall = async () => {
    agent = await startAgent(
      agentConfig(server, {
        username: 'hall',
        password: 'hall-pw',
        owners: OWNERS.map((o) => `${o}@localhost`),
        store: `${dir.path}/hall-${Date.now()}.db`,
        devicesYaml: `
  - id: host
    type: system
    interval: 500ms`,
      }),
    );
  };

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  });
  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await server?.stop();
    dir.remove();
  });

  describe('when the agent logged in first', () => {
    beforeAll(async () => {
      server = await startServer(kind, {
        accounts: ['hall', 'eve', ...OWNERS].map((u) => ({ username: u, password: `${u}-pw` })),
      });
      await startHall();
    });
    afterAll(async () => {
      await agent?.stop({ drainMs: 0 });
      agent = undefined;
      await server.stop();
    });

    it('reads the agent by bare JID on first use', async () => {
      const r = await run('alice', ['read', 'hall@localhost', '--node', 'host', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const [result] = JSON.parse(r.stdout) as [{ ok: boolean; jid: string; fields: unknown[] }];
      expect(result).toMatchObject({ ok: true, jid: 'hall@localhost/agent' });
      expect(result.fields.length).toBeGreaterThan(0);
      // …and the agent is now a contact both ways: the next command finds it at once.
      await expectHallListedBy('alice');
    });

    it('lists the agent, online, on first use of devices with the agent configured', async () => {
      const r = await run('bob', ['devices', '--json'], { XIOT_AGENTS: 'hall@localhost' });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toContainEqual(
        expect.objectContaining({
          jid: 'hall@localhost',
          online: 'hall@localhost/agent',
          status: '1 device, all available', // the agent's presence status
          sensordata: true,
        }),
      );
    });

    it("mentions the agent's pending request when devices is run with nothing configured", async () => {
      const r = await run('dave', ['devices', '--json']);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe('[]');
      expect(r.stderr).toMatch(
        /hall@localhost asks to see your presence: to accept, run "xiot devices hall@localhost"/,
      );
    });

    it("approves no one else's request, even while adding an agent", async () => {
      const eve = await startClient(server, 'eve', 'eve-pw');
      try {
        await eve.sensors.subscribe('dave@localhost');
        const r = await run('dave', ['devices', 'hall@localhost', '--json']);
        expect(r.code).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual([
          expect.objectContaining({ jid: 'hall@localhost', online: 'hall@localhost/agent' }),
        ]);
        expect(r.stderr).toMatch(/eve@localhost asks to see your presence/);
        await new Promise((resolve) => setTimeout(resolve, 300)); // an approval would have reached eve by now
        expect(
          eve.presences.filter((p) => p.attrs.from === 'dave@localhost' && p.attrs.type === 'subscribed'),
        ).toEqual([]);
      } finally {
        await eve.stop();
      }
    });

    it('watches the agent on first use', async () => {
      const r = await run('carol', ['watch', 'hall@localhost', '--json', '--for', '4s']);
      expect(r.code).toBe(0);
      const lines = jsonLines(r.stdout);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      expect(lines.every((l) => l.from === 'hall@localhost' && l.device === 'host')).toBe(true);
    });
    it('watches the configured agents when no JID is given, on first use', async () => {
      const r = await run('erin', ['watch', '--json', '--for', '4s'], { XIOT_AGENTS: 'hall@localhost' });
      expect(r.code).toBe(0);
      expect(jsonLines(r.stdout).filter((l) => l.from === 'hall@localhost').length).toBeGreaterThanOrEqual(2);
    });
  });

  describe('when the CLI logged in first', () => {
    beforeAll(async () => {
      server = await startServer(kind, {
        accounts: ['hall', ...OWNERS].map((u) => ({ username: u, password: `${u}-pw` })),
      });
    });
    afterAll(async () => {
      await agent?.stop({ drainMs: 0 });
      agent = undefined;
    });

    it('says the agent has not approved yet, then reads it by bare JID once it runs', async () => {
      const before = await run('alice', ['read', 'hall@localhost']);
      expect(before.code).toBe(1);
      expect(before.stderr).toMatch(/hall@localhost has not approved your presence subscription yet/);
      const devices = await run('bob', ['devices', 'hall@localhost', '--json']);
      expect(JSON.parse(devices.stdout)).toContainEqual(
        expect.objectContaining({ jid: 'hall@localhost', online: '', subscription: 'asked' }),
      );
      // carol's watch runs while the agent starts.
      const watching = run('carol', ['watch', 'hall@localhost', '--json', '--for', '7s']);
      await new Promise((r) => setTimeout(r, 1500));
      await startHall();

      const after = await run('alice', ['read', 'hall@localhost', '--node', 'host']);
      expect(after.stderr).toBe('');
      expect(after.code).toBe(0);
      expect(after.stdout).toMatch(/host/);
      await expectHallListedBy('bob');
      const watched = await watching;
      expect(watched.code).toBe(0);
      expect(jsonLines(watched.stdout).some((l) => l.from === 'hall@localhost')).toBe(true);
    }, 60_000);

    it('watch on first use, with the agent already running', async () => {
      const r = await run('dave', ['watch', 'hall@localhost', '--json', '--for', '4s']);
      expect(r.code).toBe(0);
      expect(jsonLines(r.stdout).length).toBeGreaterThanOrEqual(2);
    });

    it('ends quietly with exit 0 when the reader of its output goes away (xiot watch | head -n 1)', async () => {
      const started = Date.now();
      const r = await runToExit(
        'bash',
        ['-c', 'set -o pipefail; "$NODE" "$CLI" watch hall@localhost --json --for 20s | head -n 1'],
        { ...operatorEnv(server, dir.path, 'alice'), NODE: process.execPath, CLI },
      );
      expect(Date.now() - started).toBeLessThan(10_000); // ended by the closed pipe, not by --for
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(jsonLines(r.stdout.split('\n')[0] ?? '')).toHaveLength(1);
    });
  });
});
