/**
 * `xiot history THING --hub hub.yaml` as an operator runs it on the hub's machine: the built CLI reads the fleet
 * history store the hub config names (the real SQLite store), no XMPP account needed.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHistoryStore } from '../../src/hub/history-store.js';
import { tempDir } from '../helpers/agent.js';
import { CLI, runToExit } from '../helpers/cli.js';

describe('xiot history --hub', () => {
  const dir = tempDir();
  const t0 = Date.now() - 20 * 60_000;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    writeFileSync(
      `${dir.path}/hub.yaml`,
      'xmpp:\n  component: { service: "xmpp://127.0.0.1:5347", domain: hub.localhost, secret: "${S}" }\nstore: hub.db\n',
    );
    const history = await openHistoryStore(`${dir.path}/history.db`);
    await history.insert(
      [0, 1, 2].flatMap((i) => [
        {
          thing: 'kitchen@localhost',
          nodeId: 'host',
          name: 'temp',
          type: 'numeric' as const,
          value: `2${i}.5`,
          unit: '°C',
          timestamp: t0 + i * 60_000,
          flags: ['momentary' as const],
          qos: [],
        },
        {
          thing: 'kitchen@localhost',
          nodeId: 'host',
          name: 'state',
          type: 'boolean' as const,
          value: i % 2 ? 'true' : 'false',
          timestamp: t0 + i * 60_000,
          flags: ['status' as const],
          qos: [],
        },
      ]),
    );
    await history.close();
  });
  afterAll(() => dir.remove());

  const xiot = (...args: string[]) =>
    runToExit(process.execPath, [CLI, 'history', ...args], { ...process.env, S: 's' });

  it('prints what the hub stored of a thing (default: the last hour), one value per line', async () => {
    const r = await xiot('kitchen@localhost', '--hub', `${dir.path}/hub.yaml`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^time\s+node\s+field\s+value\s+unit$/);
    expect(lines).toHaveLength(7);
    expect(lines[1]).toContain(`${new Date(t0).toISOString()}  host  state  false`);
  });

  it('filters one field, as JSON or CSV', async () => {
    const json = await xiot(
      'kitchen@localhost',
      '--hub',
      `${dir.path}/hub.yaml`,
      '--field',
      'temp',
      '--json',
    );
    expect(JSON.parse(json.stdout)).toEqual(
      [0, 1, 2].map((i) => ({
        time: new Date(t0 + i * 60_000).toISOString(),
        node: 'host',
        field: 'temp',
        value: `2${i}.5`,
        type: 'numeric',
        unit: '°C',
      })),
    );
    const csv = await xiot(
      'kitchen@localhost',
      '--hub',
      `${dir.path}/hub.yaml`,
      '--field',
      'state',
      '--from',
      new Date(t0 + 30_000).toISOString(),
      '--csv',
    );
    expect(csv.stdout).toBe(
      `time,node,field,value,unit\n${new Date(t0 + 60_000).toISOString()},host,state,true,\n${new Date(t0 + 120_000).toISOString()},host,state,false,\n`,
    );
  });

  it('says when the hub has nothing of a thing', async () => {
    const r = await xiot('hall@localhost', '--hub', `${dir.path}/hub.yaml`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('the hub has no readings of hall@localhost');
  });
});
