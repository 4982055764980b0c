/**
 * Issue 7 acceptance: an agent configured with `service: exi://…` publishes through the hub's EXI gateway
 * (XEP-0322 binary binding) and an ordinary XML owner on the same Prosody receives the readings over PEP,
 * and reads the agent out (XEP-0323) through the gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProsodyServer, startProsody } from '../../src/devtools/prosody.js';
import { type ExiGateway, startExiGateway } from '../../src/hub/exi-gateway.js';
import type { Agent } from '../../src/runtime/agent.js';
import {
  agentConfig,
  startAgent,
  startClient,
  type TestClient,
  tempDir,
  testLogger,
  waitFor,
} from '../helpers/agent.js';
import { requireProsody } from '../helpers/requirements.js';

describe.skipIf(!requireProsody())('agent over the XEP-0322 EXI binding, through the hub gateway', () => {
  let server: ProsodyServer;
  let gateway: ExiGateway;
  let agent: Agent;
  let owner: TestClient;
  const dir = tempDir();
  let agentJid: string;

  beforeAll(async () => {
    server = await startProsody({
      accounts: [
        { username: 'cellar', password: 'agent-secret' },
        { username: 'alice', password: 'alice-secret' },
      ],
    });
    gateway = await startExiGateway({
      listen: { host: '127.0.0.1', port: 0 },
      upstream: { host: server.host, port: server.c2sPort },
      log: testLogger(),
    });
    owner = await startClient(server, 'alice', 'alice-secret', { approve: ['cellar@localhost'] });
    const exiService = `exi://127.0.0.1:${gateway.port}`;
    const config = agentConfig(
      { ...server, service: exiService },
      {
        username: 'cellar',
        password: 'agent-secret',
        owners: ['alice@localhost'],
        store: `${dir.path}/cellar.db`,
        devicesYaml: `
  - id: host
    type: system
    interval: 300ms`,
      },
    );
    expect(config.xmpp.service).toBe(exiService);
    agent = await startAgent(config);
    agentJid = agent.transport.jid as string;
    await owner.sensors.subscribe('cellar@localhost');
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await owner?.stop();
    await gateway?.stop();
    await server?.stop();
    dir.remove();
  });

  it('the agent is online through the gateway', () => {
    expect(agentJid).toMatch(/^cellar@localhost\//);
    const s = gateway.stats();
    expect(s.connections).toBe(1);
    expect(s.open).toBe(1);
    expect(s.elementsUp).toBeGreaterThan(4);
  });

  it('an ordinary XML owner receives the readings over PEP', async () => {
    const before = owner.notifications.length;
    await waitFor(
      'three PEP notifications from the EXI agent',
      () => owner.notifications.length >= before + 3,
    );
    const n = owner.notifications.at(-1);
    expect(n).toMatchObject({ from: 'cellar@localhost', node: 'urn:xmpp:iot:sensordata', itemId: 'host' });
    const load1 = n?.fields.find((f) => f.name === 'load1');
    expect(load1).toMatchObject({ nodeId: 'host', type: 'numeric' });
    expect(Number.isFinite(Number(load1?.value))).toBe(true);
    expect(Number.isFinite(load1?.timestamp)).toBe(true);
  });

  it('answers a XEP-0323 momentary readout from the XML owner through the gateway', async () => {
    const result = await owner.sensors.readout(agentJid, { types: ['momentary'], nodes: ['host'] });
    expect(result.accepted).toBe(true);
    expect(result.done).toBe(true);
    const names = result.fields.map((f) => f.name);
    for (const name of ['load1', 'memAvailable', 'uptime']) expect(names).toContain(name);
    expect(result.fields.find((f) => f.name === 'load1')).toMatchObject({ flags: ['momentary'] });
  });

  it('measures the bytes on the EXI side against the XML side (logged)', () => {
    const s = gateway.stats();
    const exi = s.exiIn + s.exiOut;
    const xml = s.xmlIn + s.xmlOut;
    // Measured, not asserted beyond sanity: the ratio depends on the mix of stanzas.
    console.log(
      `EXI binding bytes: EXI side ${exi} (in ${s.exiIn}, out ${s.exiOut}), XML side ${xml} ` +
        `(in ${s.xmlIn}, out ${s.xmlOut}), ratio ${(exi / xml).toFixed(3)}; ` +
        `elements up ${s.elementsUp}, down ${s.elementsDown}`,
    );
    expect(exi).toBeGreaterThan(0);
    expect(xml).toBeGreaterThan(0);
  });
});
