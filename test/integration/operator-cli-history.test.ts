/**
 * `xiot read --historical` when the device cut the history at its limit (issue 12): a notice on stderr that
 * says how to get the rest, exit 0, `truncated` in the JSON. A scripted device sends the marker
 * (src/xmpp/sensordata.ts, NS_READOUT) so the CLI side is proven whatever the agent's limit is.
 */
import { existsSync } from 'node:fs';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { NS } from '../../src/xmpp/ns.js';
import { NS_READOUT } from '../../src/iot/sensordata.js';
import { startClient, type TestClient, tempDir } from '../helpers/agent.js';
import { CLI, operatorEnv, runToExit } from '../helpers/cli.js';
import { servers } from '../helpers/servers.js';

describe.each(servers())('xiot read --historical of a history the device cut (%s)', (kind) => {
  let server: XmppServer;
  let device: TestClient;
  const dir = tempDir();
  /** What the scripted device appends to its answer. */
  let marker: (seqnr: string) => Element[] = () => [];

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    server = await startServer(kind, {
      accounts: ['meter', 'alice'].map((u) => ({ username: u, password: `${u}-pw` })),
    });
    device = await startClient(server, 'meter', 'meter-pw', { resource: 'dev' });
    device.transport.handleIq('get', NS.sensordata, 'req', (stanza, req) => {
      const seqnr = req.attrs.seqnr as string;
      setTimeout(() => {
        const readings = [0, 1].map((i) =>
          xml(
            'timestamp',
            { value: `2026-11-24T0${i}:00:00Z` },
            xml('numeric', { name: 'energy', value: String(10 + i), unit: 'kWh', historicalOther: 'true' }),
          ),
        );
        void device.transport.send(
          xml(
            'message',
            { to: stanza.attrs.from as string },
            xml(
              'fields',
              { xmlns: NS.sensordata, seqnr, done: 'true' },
              xml('node', { nodeId: 'meter' }, ...readings),
            ),
            ...marker(seqnr),
          ),
        );
      }, 50);
      return xml('accepted', { xmlns: NS.sensordata, seqnr });
    });
  });
  afterAll(async () => {
    await device?.stop();
    await server?.stop();
    dir.remove();
  });

  const read = (...extra: string[]) =>
    runToExit(
      process.execPath,
      [CLI, 'read', 'meter@localhost/dev', '--historical', ...extra],
      operatorEnv(server, dir.path, 'alice'),
    );

  it('prints the readings, a notice on stderr with the command for the rest, and exits 0', async () => {
    marker = (seqnr) => [
      xml('truncated', { xmlns: NS_READOUT, seqnr, limit: '2', resume: '2026-11-24T02:00:00Z' }),
    ];
    const r = await read('--from', '2026-11-24T00:00:00Z', '--to', '2026-11-25T00:00:00Z');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/energy\s+11/);
    expect(r.stderr).toBe(
      'xiot: meter@localhost/dev: the agent cut this history at 2 readings; the rest: xiot read meter@localhost/dev --historical --from 2026-11-24T02:00:00Z --to 2026-11-25T00:00:00Z\n',
    );
    const json = await read('--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject([
      { ok: true, truncated: { limit: 2, resume: '2026-11-24T02:00:00Z' }, fields: [{}, {}] },
    ]);
  });

  it('says nothing when the history was complete', async () => {
    marker = () => [];
    const r = await read('--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)[0]).not.toHaveProperty('truncated');
  });
});
