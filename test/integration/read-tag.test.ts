/**
 * `xiot read --tag NAME=VALUE` (issue 16): the things the registry finds with that tag, read with a bounded
 * number at once. Real agents registered in the hub's registry and claimed by their owner; the built CLI.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import { NS_DISCOVERY, parseClaimCode, tagElements } from '../../src/iot/discovery.js';
import {
  agentConfig,
  startAgent,
  startClient,
  type TestClient,
  tempDir,
  testLogger,
  waitFor,
} from '../helpers/agent.js';
import { CLI, operatorEnv, runToExit } from '../helpers/cli.js';
import { tickDevice } from '../helpers/ingest-fleet.js';
import { servers } from '../helpers/servers.js';

/** The hub, as an XEP-0114 component. */
const HUB = 'hub.localhost';
const HUB_SECRET = 'hub-secret';
const ROOMS: Record<string, string> = { t1: 'lab', t2: 'lab', t3: 'attic' };

describe.each(servers())('xiot read --tag (%s)', (kind) => {
  let server: XmppServer;
  let hub: Hub;
  let alice: TestClient;
  const agents: Agent[] = [];
  const dir = tempDir();
  const xiot = (args: string[]) =>
    runToExit(process.execPath, [CLI, ...args], operatorEnv(server, `${dir.path}/home`, 'alice'));

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    mkdirSync(`${dir.path}/home`);
    server = await startServer(kind, {
      components: [{ name: HUB, secret: HUB_SECRET }],
      accounts: [...Object.keys(ROOMS), 'alice'].map((u) => ({ username: u, password: `${u}-pw` })),
    });
    hub = createHub(
      {
        xmpp: {
          component: { service: `xmpp://127.0.0.1:${server.componentPort}`, domain: HUB, secret: HUB_SECRET },
        },
        store: `${dir.path}/hub.db`,
        registry: { claimAttemptsPerMinute: 10 },
        log: { level: 'info' },
        history: {
          store: ':memory:',
          retention: { rawMs: 30 * 86_400_000, aggregatesMs: 365 * 86_400_000, resolutionMs: 60_000 },
        },
      },
      { log: testLogger() },
    );
    await hub.start();
    alice = await startClient(server, 'alice', 'alice-pw');
    for (const [u, room] of Object.entries(ROOMS)) {
      const agent = await startAgent(
        agentConfig(server, {
          username: u,
          password: `${u}-pw`,
          owners: [],
          store: `${dir.path}/${u}.db`,
          extraYaml: `registry: { jid: ${HUB}, tags: { ROOM: ${room} } }`,
          extraDefinitions: [tickDevice],
          devicesYaml: `  - { id: ${u}-tick, type: tick, interval: 1h }`,
        }),
      );
      agents.push(agent);
      await waitFor(`${u} registered`, () => hub.store.getThing(`${u}@localhost`));
      const code = parseClaimCode((agent.claimCode() as { text: string }).text);
      await alice.transport.request(
        xml('iq', { type: 'set', to: HUB }, xml('mine', { xmlns: NS_DISCOVERY }, ...tagElements(code.tags))),
      );
    }
    await alice.stop();
  }, 120_000);

  afterAll(async () => {
    for (const a of agents) await a.stop({ drainMs: 0 });
    await hub?.stop();
    await server?.stop();
    dir.remove();
  });

  it('reads every thing the registry finds with the tag, and only those', async () => {
    const r = await xiot(['read', '--tag', 'ROOM=lab', '--registry', HUB, '--concurrency', '1', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const results = JSON.parse(r.stdout) as {
      jid: string;
      ok: boolean;
      fields: { node: string; field: string }[];
    }[];
    expect(results.map((x) => x.jid.split('/')[0]).sort()).toEqual(['t1@localhost', 't2@localhost']);
    for (const x of results) {
      expect(x.ok).toBe(true);
      expect(x.fields.map((f) => `${f.node}.${f.field}`)).toEqual([`${x.jid.split('@')[0]}-tick.n`]);
    }
  }, 60_000);

  it('says so when no thing has the tag (exit 1), and refuses JIDs with --tag', async () => {
    const none = await xiot(['read', '--tag', 'ROOM=cellar', '--registry', HUB]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no thing in ${HUB} has ROOM=cellar`);
    const both = await xiot(['read', 't1@localhost', '--tag', 'ROOM=lab', '--registry', HUB]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('JIDs or --tag, not both');
    const noRegistry = await xiot(['read', '--tag', 'ROOM=lab']);
    expect(noRegistry.code).toBe(2);
    expect(noRegistry.stderr).toContain('--registry JID');
  }, 60_000);
});
