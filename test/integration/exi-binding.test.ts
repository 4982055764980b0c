/**
 * Issue 7 acceptance: an agent configured with `service: exi://…` publishes through the hub's EXI gateway
 * (XEP-0322 binary binding) and an ordinary XML owner on the same server receives the readings over PEP,
 * and reads the agent out (XEP-0323) through the gateway. The agent uses sessionWideBuffers (the default); a
 * second agent with the same device, `?sessionWideBuffers=false`, goes through a gateway of its own, so that
 * the EXI bytes of both can be compared.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { type ExiGateway, startExiGateway } from '../../src/hub/exi-gateway.js';
import type { Agent } from '../../src/agent/agent.js';
import {
  agentConfig,
  startAgent,
  startClient,
  type TestClient,
  tempDir,
  testLogger,
  waitFor,
} from '../helpers/agent.js';
import { servers } from '../helpers/servers.js';

describe.each(servers())('agent over the XEP-0322 EXI binding, through the hub gateway (%s)', (kind) => {
  let server: XmppServer;
  let gateway: ExiGateway;
  let plainGateway: ExiGateway;
  let agent: Agent;
  let plainAgent: Agent;
  let owner: TestClient;
  const dir = tempDir();
  let agentJid: string;
  let plainJid: string;

  beforeAll(async () => {
    server = await startServer(kind, {
      accounts: [
        { username: 'cellar', password: 'agent-secret' },
        { username: 'attic', password: 'attic-secret' },
        { username: 'alice', password: 'alice-secret' },
      ],
    });
    const gatewayOptions = {
      listen: { host: '127.0.0.1', port: 0 },
      upstream: { host: server.host, port: server.c2sPort },
      log: testLogger(),
    };
    gateway = await startExiGateway(gatewayOptions);
    plainGateway = await startExiGateway(gatewayOptions);
    owner = await startClient(server, 'alice', 'alice-secret', {
      approve: ['cellar@localhost', 'attic@localhost'],
    });
    const start = async (username: string, service: string) => {
      const config = agentConfig(
        { ...server, service },
        {
          username,
          password: `${username}-secret`.replace('cellar-secret', 'agent-secret'),
          owners: ['alice@localhost'],
          store: `${dir.path}/${username}.db`,
          devicesYaml: `
  - id: host
    type: system
    interval: 300ms`,
        },
      );
      expect(config.xmpp.service).toBe(service);
      return startAgent(config);
    };
    agent = await start('cellar', `exi://127.0.0.1:${gateway.port}`);
    plainAgent = await start('attic', `exi://127.0.0.1:${plainGateway.port}?sessionWideBuffers=false`);
    agentJid = agent.transport.jid as string;
    plainJid = plainAgent.transport.jid as string;
    await owner.sensors.subscribe('cellar@localhost');
    await owner.sensors.subscribe('attic@localhost');
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await plainAgent?.stop({ drainMs: 0 });
    await owner?.stop();
    await gateway?.stop();
    await plainGateway?.stop();
    await server?.stop();
    dir.remove();
  });

  it('the agent is online through the gateway', () => {
    expect(agentJid).toMatch(/^cellar@localhost\//);
    const s = gateway.stats();
    expect(s.connections).toBe(1);
    expect(s.open).toBe(1);
    expect(s.elementsUp).toBeGreaterThan(4);
    // setup agreed on sessionWideBuffers for the default agent, not for the one that turned it off
    expect(s.sessionWide).toBe(1);
    expect(plainGateway.stats()).toMatchObject({ connections: 1, open: 1, sessionWide: 0 });
  });

  it('an ordinary XML owner receives the readings over PEP (agent with sessionWideBuffers)', async () => {
    const fromCellar = () => owner.notifications.filter((n) => n.from === 'cellar@localhost');
    const before = fromCellar().length;
    await waitFor('three PEP notifications from the EXI agent', () => fromCellar().length >= before + 3);
    const n = fromCellar().at(-1);
    expect(n).toMatchObject({ from: 'cellar@localhost', node: 'urn:xmpp:iot:sensordata', itemId: 'host' });
    const load1 = n?.fields.find((f) => f.name === 'load1');
    expect(load1).toMatchObject({ nodeId: 'host', type: 'numeric' });
    expect(Number.isFinite(Number(load1?.value))).toBe(true);
    expect(Number.isFinite(load1?.timestamp)).toBe(true);
  });

  it('answers XEP-0323 momentary readouts from the XML owner through the gateway (both agents)', async () => {
    for (const jid of [agentJid, plainJid, agentJid, plainJid]) {
      const result = await owner.sensors.readout(jid, { types: ['momentary'], nodes: ['host'] });
      expect(result.accepted).toBe(true);
      expect(result.done).toBe(true);
      const names = result.fields.map((f) => f.name);
      for (const name of ['load1', 'memAvailable', 'uptime']) expect(names).toContain(name);
      expect(result.fields.find((f) => f.name === 'load1')).toMatchObject({ flags: ['momentary'] });
    }
  });

  it('measures the bytes on the EXI side against the XML side: sessionWideBuffers carries fewer', async () => {
    // Both agents publish every 300 ms; wait until each has published a dozen readings more.
    const count = (from: string) => owner.notifications.filter((n) => n.from === from).length;
    const base = { cellar: count('cellar@localhost'), attic: count('attic@localhost') };
    await waitFor(
      'a dozen more readings from each agent',
      () => count('cellar@localhost') >= base.cellar + 12 && count('attic@localhost') >= base.attic + 12,
    );
    const ratios = [
      ['sessionWideBuffers', gateway],
      ['without', plainGateway],
    ].map(([label, gw]) => {
      const s = (gw as ExiGateway).stats();
      const exi = s.exiIn + s.exiOut;
      const xml = s.xmlIn + s.xmlOut;
      console.log(
        `EXI binding bytes (${label as string}): EXI side ${exi} (in ${s.exiIn}, out ${s.exiOut}), XML side ${xml} ` +
          `(in ${s.xmlIn}, out ${s.xmlOut}), ratio ${(exi / xml).toFixed(3)} ` +
          `(up ${(s.exiIn / s.xmlOut).toFixed(3)}, down ${(s.exiOut / s.xmlIn).toFixed(3)}); ` +
          `elements up ${s.elementsUp}, down ${s.elementsDown}`,
      );
      expect(exi).toBeGreaterThan(0);
      expect(xml).toBeGreaterThan(0);
      return { all: exi / xml, up: s.exiIn / s.xmlOut };
    });
    const [swb, plain] = ratios as [{ all: number; up: number }, { all: number; up: number }];
    // Same device, same stanzas: per XML byte relayed, the session-wide side carries clearly fewer EXI bytes.
    expect(swb.all).toBeLessThan(plain.all * 0.85);
    expect(swb.up).toBeLessThan(plain.up * 0.85);
  });
});
