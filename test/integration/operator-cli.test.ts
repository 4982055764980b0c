import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/agent.js';
import { useAgentFixture } from '../helpers/agent-fixture.js';
import { memoryActuator, memoryActuatorState, memoryActuatorWrites } from '../helpers/fake-devices.js';
import { servers } from '../helpers/servers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

describe.each(servers())('the xiot operator commands against a running agent (%s)', (kind) => {
  const xiot = (args: string[], user = 'alice') =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: {
          ...process.env,
          XDG_CONFIG_HOME: fx.dir.path, // no operator file of the developer's
          XIOT_JID: `${user}@localhost`,
          XIOT_PASSWORD: `${user}-pw`,
          XIOT_SERVICE: fx.server.service,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  });

  const fx = useAgentFixture({
    server: kind,
    accounts: ['hall', 'alice', 'mallory'],
    agent: {
      username: 'hall',
      owners: ['alice@localhost'],
      extraDefinitions: [memoryActuator],
      devicesYaml: `
  - id: relay
    type: memory_actuator
    interval: 300ms
  - id: host
    type: system
    interval: 1h`,
    },
    // alice befriends the agent once (as any client would); the CLI then finds its online resource.
    clients: { owner: { username: 'alice', approve: ['hall@localhost'] } },
    clientsAfterAgent: true,
    subscribe: ['owner'],
  });

  beforeAll(async () => {
    await waitFor('alice subscribed', () =>
      fx.owner.presences.find((p) => p.attrs.from === fx.jid && !p.attrs.type),
    );
  });

  beforeEach(() => {
    memoryActuatorState.clear();
    memoryActuatorWrites.length = 0;
  });

  it('reads a device by bare JID; --json parses and matches the human table', async () => {
    const human = await xiot(['read', 'hall@localhost', '--node', 'relay']);
    expect(human.code).toBe(0);
    const json = await xiot(['read', 'hall@localhost', '--node', 'relay', '--json']);
    expect(json.code).toBe(0);
    const [result] = JSON.parse(json.stdout) as [
      { ok: boolean; jid: string; fields: { field: string; value: string }[] },
    ];
    expect(result.ok).toBe(true);
    expect(result.fields.map((f) => [f.field, f.value])).toEqual([
      ['state', 'false'],
      ['level', '0'],
      ['setpoint', '20.0'],
      ['mode', 'auto'],
    ]);
    const lines = human.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+FIELD\s+VALUE\s+UNIT\s+TIME\s+TYPES$/);
    for (const f of result.fields)
      expect(lines.some((l) => l.includes(f.field) && l.includes(f.value))).toBe(true);
  });

  it('sets a parameter with the type the device form declares, and shows the form', async () => {
    const r = await xiot(['set', 'hall@localhost', 'state=on', 'level=30', '--node', 'relay']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/hall@localhost\/agent: state=true level=30/);
    expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { state: true, level: 30 } }]);
    const form = await xiot(['form', 'hall@localhost', '--node', 'relay', '--json']);
    const rows = JSON.parse(form.stdout) as { parameter: string; datatype: string; range: string }[];
    expect(rows.find((p) => p.parameter === 'level')).toMatchObject({ datatype: 'xs:int', range: '0..100' });
  });

  it('refuses out of range values with exit 1 and a reason', async () => {
    const r = await xiot(['set', 'hall@localhost', 'level=500', '--node', 'relay']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/at most 100/);
    expect(memoryActuatorWrites).toEqual([]);
  });

  it('streams readings with watch --json', async () => {
    const r = await xiot(['watch', 'hall@localhost', '--json', '--for', '2s']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { from: string; device: string });
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.every((l) => l.from === 'hall@localhost')).toBe(true);
    expect(lines.some((l) => l.device === 'relay')).toBe(true);
  });

  it('lists devices in the roster with online state, capabilities and last reading', async () => {
    const r = await xiot(['devices', '--json']);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as {
      jid: string;
      online: string;
      sensordata: boolean;
      control: boolean;
      devices: string;
    }[];
    expect(rows.find((d) => d.jid === 'hall@localhost')).toMatchObject({
      online: 'hall@localhost/agent',
      sensordata: true,
      control: true,
      devices: expect.stringContaining('relay'),
    });
  });

  it('gives a one-line error and exit 2 on bad arguments; exit 3 when it cannot log in', async () => {
    for (const args of [
      ['read'],
      ['set', 'hall@localhost'],
      ['read', 'x', '--types', 'weekly'],
      ['read', 'x', '--bogus'],
    ]) {
      const r = await xiot(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const bad = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'read', 'hall@localhost'], {
        env: {
          ...process.env,
          XDG_CONFIG_HOME: fx.dir.path,
          XIOT_JID: 'alice@localhost',
          XIOT_PASSWORD: 'wrong',
          XIOT_SERVICE: fx.server.service,
        },
      });
      child.on('exit', resolve);
    });
    expect(bad).toBe(3);
  });

  it("refuses a stranger's read with exit 1", async () => {
    const r = await xiot(['read', 'hall@localhost/agent'], 'mallory');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/forbidden/);
  });
});
