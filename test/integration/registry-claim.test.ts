import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { loadHubConfig } from '../../src/config/hub-config.js';
import { openSqliteHubStore } from '../../src/hub/store.js';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import { type MetaTag, NS_DISCOVERY, parseClaimCode, tagElements } from '../../src/iot/discovery.js';
import { NS } from '../../src/xmpp/ns.js';
import {
  agentConfig,
  startAgent,
  startClient,
  type TestClient,
  tempDir,
  testLogger,
  waitFor,
} from '../helpers/agent.js';
import { captureLogger } from '../helpers/log-capture.js';
import { hubCases, hubLink } from '../helpers/hub-modes.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

describe.each(hubCases())(
  'XEP-0347: claiming an agent through the hub registry (%s, %s hub)',
  (kind, mode) => {
    const link = hubLink(mode);
    const REGISTRY = link.jid;
    const dir = tempDir();
    let server: XmppServer;
    let hub: Hub | undefined;
    let agent: Agent | undefined;
    let mallory: TestClient | undefined;
    let alice: TestClient | undefined;
    let code: { text: string; uri: string };

    const xiot = (args: string[], user: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], {
          env: {
            ...process.env,
            XDG_CONFIG_HOME: dir.path,
            XIOT_JID: `${user}@localhost`,
            XIOT_PASSWORD: `${user}-pw`,
            XIOT_SERVICE: server.service,
          },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('exit', (c) => resolve({ code: c, stdout, stderr }));
      });

    const hubYaml = () => `${dir.path}/hub.yaml`;
    const startHub = async () => {
      const h = createHub(loadHubConfig(hubYaml(), link.env), { log: testLogger() });
      await h.start();
      return h;
    };
    const agentYaml = `registry: { jid: ${REGISTRY}, tags: { ROOM: hall, FLOOR: 2 } }`;
    const agentLog = captureLogger('info');
    const startHall = (log = testLogger(), registryYaml = agentYaml) =>
      startAgent(
        agentConfig(server, {
          username: 'hall',
          password: 'hall-pw',
          owners: [],
          store: `${dir.path}/hall.db`,
          extraYaml: registryYaml,
          devicesYaml: '  - { id: host, type: system, interval: 1h }',
        }),
        log,
      );
    const mine = async (client: TestClient, tags: MetaTag[]) =>
      client.transport.request(
        xml(
          'iq',
          { type: 'set', to: await link.address(client.transport) },
          xml('mine', { xmlns: NS_DISCOVERY }, ...tagElements(tags)),
        ),
      );

    beforeAll(async () => {
      if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
      server = await startServer(kind, {
        components: link.serverOptions.components,
        accounts: [
          ...link.serverOptions.accounts,
          ...['hall', 'alice', 'mallory'].map((u) => ({ username: u, password: `${u}-pw` })),
        ],
      });
      writeFileSync(
        hubYaml(),
        `${link.yaml(server)}store: hub.db
registry: { claimAttemptsPerMinute: 3 }
`,
      );
      hub = await startHub();
      agent = await startHall(agentLog.log);
    });

    afterAll(async () => {
      await agent?.stop({ drainMs: 0 });
      await alice?.stop();
      await mallory?.stop();
      await hub?.stop();
      await server?.stop();
      dir.remove();
    });

    it('advertises urn:xmpp:iot:discovery in the registry disco#info', async () => {
      mallory = await startClient(server, 'mallory', 'mallory-pw');
      const info = await mallory.transport.request(
        xml(
          'iq',
          { type: 'get', to: await link.address(mallory.transport) },
          xml('query', { xmlns: NS.discoInfo }),
        ),
      );
      const features = info
        .getChild('query')
        ?.getChildren('feature')
        .map((f) => f.attrs.var);
      expect(features).toContain(NS_DISCOVERY);
    });

    it('registers an agent without owners, with its tags and a claim code', async () => {
      const thing = await waitFor('hall registered', () => hub?.store.getThing('hall@localhost'));
      expect(thing.owner).toBeUndefined();
      code = agent?.claimCode() as { text: string; uri: string };
      expect(code.text).toMatch(
        /^IoTDisco;MAN:xmpp-iot\.org;MODEL:xiot-agent;SN:[^;]+;ROOM:hall;#FLOOR:2;KEY:/,
      );
      expect(code.uri.endsWith(`;R=${REGISTRY}`)).toBe(true);
      expect(thing.tags.map((t) => t.name).sort()).toEqual(['FLOOR', 'KEY', 'MAN', 'MODEL', 'ROOM', 'SN']);
      const logged = agentLog.entries.find((e) => e.claimCode);
      expect(logged).toMatchObject({
        claimCode: code.text,
        uri: code.uri,
        msg: `registered; claim code: ${code.text}`,
      });
    });

    it('prints the same claim code with xiot claim-code', async () => {
      const config = `${dir.path}/hall.yaml`;
      writeFileSync(
        config,
        `xmpp: { service: ${server.service}, domain: localhost, username: hall, password: "\${HALL_PW}" }
owners: []
store: hall.db
${agentYaml}
devices:
  - { id: host, type: system, interval: 1h }
`,
      );
      const out = await xiot(['claim-code', '--config', config], 'alice');
      expect(out.stderr).toBe('');
      expect(out.stdout.split('\n').slice(0, 2)).toEqual([code.text, code.uri]);
      expect(out.code).toBe(0);
    });

    it('refuses malformed tags with bad-request and a text', async () => {
      const bad = mallory as TestClient;
      await expect(
        bad.transport.request(
          xml(
            'iq',
            { type: 'set', to: await link.address(bad.transport) },
            xml('mine', { xmlns: NS_DISCOVERY }, xml('str', { name: 'A:B', value: 'x' })),
          ),
        ),
      ).rejects.toMatchObject({ condition: 'bad-request', message: expect.stringContaining("':'") });
    });

    it('makes the operator the owner with xiot claim CODE; the readout then succeeds', async () => {
      const out = await xiot(['claim', code.uri], 'alice');
      expect(out.stderr).toBe('');
      expect(out.stdout).toContain('claimed hall@localhost');
      expect(out.code).toBe(0);
      expect(hub?.store.getThing('hall@localhost')?.owner).toBe('alice@localhost');
      // The agent rotates its KEY once claimed, at the registry too.
      const key = (c: { text: string }) => parseClaimCode(c.text).tags.find((t) => t.name === 'KEY')?.value;
      await waitFor('the KEY rotated', () =>
        hub?.store.getThing('hall@localhost')?.tags.find((t) => t.name === 'KEY' && t.value !== key(code)),
      );
      expect(key(agent?.claimCode() as { text: string })).not.toBe(key(code));
      alice = await startClient(server, 'alice', 'alice-pw', { approve: ['hall@localhost'] });
      const result = await alice.sensors.readout(agent?.transport.jid as string, { types: ['momentary'] });
      expect(result.fields.length).toBeGreaterThan(0);
    });

    it('refuses the same code to anyone else, and throttles a stranger guessing KEYs', async () => {
      const { tags } = parseClaimCode(code.text);
      const bad = mallory as TestClient;
      await expect(mine(bad, tags)).rejects.toMatchObject({ condition: 'item-not-found' });
      const guess = (k: string) => tags.map((t) => (t.name === 'KEY' ? { ...t, value: k } : t));
      await expect(mine(bad, guess('guess-1'))).rejects.toMatchObject({ condition: 'item-not-found' });
      await expect(mine(bad, guess('guess-2'))).rejects.toMatchObject({ condition: 'item-not-found' });
      await expect(mine(bad, guess('guess-3'))).rejects.toMatchObject({ condition: 'policy-violation' });
      const out = await xiot(['claim', code.text, '--registry', REGISTRY], 'mallory');
      expect(out.code).toBe(1);
    });

    it('finds the claimed public thing by search, without its KEY, and never by KEY', async () => {
      const bad = mallory as TestClient;
      const to = await link.address(bad.transport);
      const search = (...ops: ReturnType<typeof xml>[]) =>
        bad.transport.request(xml('iq', { type: 'get', to }, xml('search', { xmlns: NS_DISCOVERY }, ...ops)));
      const found = await search(xml('strEq', { name: 'ROOM', value: 'hall' }));
      const things = found.getChild('found', NS_DISCOVERY)?.getChildren('thing') ?? [];
      expect(things.map((t) => [t.attrs.jid, t.attrs.owner])).toEqual([
        ['hall@localhost', 'alice@localhost'],
      ]);
      expect(things[0]?.getChildren('str').map((s) => s.attrs.name)).not.toContain('KEY');
      const byKey = await search(xml('strMask', { name: 'KEY', value: '*' }));
      expect(byKey.getChild('found', NS_DISCOVERY)?.getChildren('thing')).toEqual([]);
      const cli = await xiot(
        ['things', '--registry', REGISTRY, '--tag', 'ROOM=hall', '--tag', '#FLOOR=2', '--json'],
        'mallory',
      );
      expect(cli.stderr).toBe('');
      expect(JSON.parse(cli.stdout)).toEqual({
        things: [
          {
            jid: 'hall@localhost',
            owner: 'alice@localhost',
            tags: {
              MAN: 'xmpp-iot.org',
              MODEL: 'xiot-agent',
              SN: expect.any(String),
              ROOM: 'hall',
              FLOOR: 2,
            },
          },
        ],
        more: false,
      });
      const none = await xiot(['things', '--registry', REGISTRY, '--tag', 'ROOM=attic'], 'mallory');
      expect(none.stdout).toBe('(nothing)\n');
    });

    it('disowns: the agent drops the owner, registers again with a new KEY; the old code fails, the new one claims', async () => {
      const owner = alice as TestClient;
      const disowned = await xiot(['disown', 'hall@localhost', '--registry', REGISTRY], 'alice');
      expect(disowned.stderr).toBe('');
      expect(disowned.stdout).toContain('disowned hall@localhost');
      expect(disowned.code).toBe(0);
      const again = await xiot(['disown', 'hall@localhost', '--registry', REGISTRY], 'alice');
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('knows no thing hall@localhost of yours');
      await expect(
        owner.sensors.readout(agent?.transport.jid as string, { types: ['momentary'] }),
      ).rejects.toMatchObject({ condition: 'forbidden' });
      const next = await waitFor('a new claim code', () => {
        const c = agent?.claimCode();
        return c && c.text !== code.text && hub?.store.getThing('hall@localhost')?.tags.length === 6
          ? c
          : undefined;
      });
      await expect(mine(owner, parseClaimCode(code.text).tags)).rejects.toMatchObject({
        condition: 'item-not-found',
      });
      code = next;
      const out = await xiot(['claim', code.text, '--registry', REGISTRY], 'alice');
      expect(out.stdout).toContain('claimed hall@localhost');
      await waitFor('the readout allowed again', () =>
        owner.sensors
          .readout(agent?.transport.jid as string, { types: ['momentary'], timeoutMs: 2000 })
          .catch(() => undefined),
      );
    });

    it('keeps the claim when the hub (now the xiot hub process) and the agent restart', async () => {
      await agent?.stop({ drainMs: 0 });
      await hub?.stop();
      hub = undefined;
      const child = spawn(process.execPath, [CLI, 'hub', '--config', hubYaml(), '--log-format', 'json'], {
        env: { ...process.env, ...link.env },
      });
      let log = '';
      child.stderr.on('data', (d) => (log += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      try {
        await waitFor('xiot hub online', () => link.onlineMessage.test(log));
        // Restarted with other tags: the claimed agent sends what changed (ROOM) and deletes what went (FLOOR).
        agent = await startHall(testLogger(), `registry: { jid: ${REGISTRY}, tags: { ROOM: attic } }`);
        const result = await waitFor('a readout by the owner after the restart', () =>
          alice?.sensors
            .readout(agent?.transport.jid as string, { types: ['momentary'], timeoutMs: 2000 })
            .catch(() => undefined),
        );
        expect(result.fields.length).toBeGreaterThan(0);
        await waitFor('the new tags at the registry', async () => {
          const found = await mallory?.transport.request(
            xml(
              'iq',
              { type: 'get', to: await link.address((mallory as TestClient).transport) },
              xml('search', { xmlns: NS_DISCOVERY }, xml('strEq', { name: 'ROOM', value: 'attic' })),
            ),
          );
          return found?.getChild('found', NS_DISCOVERY)?.getChildren('thing').length === 1;
        });
      } finally {
        child.kill('SIGINT');
      }
      expect(await exited).toBe(0);
      const store = openSqliteHubStore(`${dir.path}/hub.db`);
      const thing = store.getThing('hall@localhost');
      expect(thing?.owner).toBe('alice@localhost');
      expect(thing?.tags.map((t) => t.name).sort()).toEqual(['KEY', 'MAN', 'MODEL', 'ROOM', 'SN']);
      store.close();
    });
  },
);

describe('xiot hub, xiot claim and xiot claim-code usage', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...process.env, XDG_CONFIG_HOME: dir.path, XIOT_JID: 'a@localhost', XIOT_PASSWORD: 'x' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (c) => resolve({ code: c, stdout, stderr }));
    });

  it('prints each command help, and the hub and claim commands in xiot --help', async () => {
    const top = await run(['--help']);
    expect(top.stdout).toContain('xiot hub --config FILE');
    expect(top.stdout).toContain('xiot claim CODE');
    expect(top.stdout).toContain('xiot claim-code --config FILE');
    expect((await run(['hub', '--help'])).stdout).toContain('claimAttemptsPerMinute');
    expect((await run(['claim', '--help'])).stdout).toContain('iotdisco:');
    expect((await run(['claim-code', '--help'])).stdout).toContain('xiot claim CODE');
  });

  it('names the failing key of a hub config and exits 1', async () => {
    const path = `${dir.path}/bad-hub.yaml`;
    writeFileSync(
      path,
      'xmpp:\n  component: { service: "xmpp://127.0.0.1:5347", domain: r.localhost, secret: s }\nregistry: { claimAttempts: 3 }\n',
    );
    const r = await run(['hub', '--config', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('registry.claimAttempts: unknown key (known: claimAttemptsPerMinute)');
  });

  it('refuses what is not a claim code, or a text code without a registry, with exit 2', async () => {
    const garbage = await run(['claim', 'hello']);
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toContain('a claim code starts with "IoTDisco;" or "iotdisco:"');
    const noRegistry = await run(['claim', 'IoTDisco;SN:1;KEY:2']);
    expect(noRegistry.code).toBe(2);
    expect(noRegistry.stderr).toContain('--registry JID');
  });
});
