/**
 * GPIO and 1-Wire end to end: unmodified onoff against the FUSE sysfs simulator (interrupts included) inside a
 * private mount namespace, an agent in that namespace publishing to an owner through a real Prosody, and the
 * DS18B20 device on a simulated 1-Wire tree.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GpioSimulator, startGpioSimulator } from '../../firmware-sim/gpio/simulator.js';
import { type OneWireSimulator, startOneWireSimulator } from '../../firmware-sim/onewire.js';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import type { Agent } from '../../src/agent/agent.js';
import type { Notification } from '../../src/operator/sensor-client.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { compileChildAgent, type NamespacedAgent, startNamespacedAgent } from '../helpers/namespace-agent.js';
import { requireFuse, requireRoot, requireSlixmpp } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';
import { runSlixmpp } from '../helpers/slixmpp.js';

const gpioReady = requireRoot() && requireFuse();

/** Runs a CommonJS script with plain onoff inside the namespace; collects its JSON lines. */
function runOnoffScript(sim: GpioSimulator, script: string) {
  const { command, args } = sim.namespaceCommand([process.execPath, '-e', script]);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: process.cwd() });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let buffer = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      lines.push(JSON.parse(buffer.slice(0, i)) as Record<string, unknown>);
      buffer = buffer.slice(i + 1);
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, lines, exited, stderr: () => stderr };
}

describe.skipIf(!gpioReady)('unmodified onoff against the FUSE sysfs simulator', () => {
  let sim: GpioSimulator;

  beforeAll(async () => {
    sim = await startGpioSimulator({ board: 'pi5' });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('serves Pi 5 numbering: BCM 17 is refused (EINVAL), 571 + 17 exports; edges arrive as interrupts', async () => {
    const line = sim.sysfs(17);
    expect(line).toBe(588);
    const run = runOnoffScript(
      sim,
      `
      const { Gpio } = require(${JSON.stringify(join(process.cwd(), 'node_modules', 'onoff'))});
      const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
      try { new Gpio(17, 'in', 'both'); out({ bcm17: 'exported' }); } catch (e) { out({ bcm17: e.code }); }
      const g = new Gpio(${line}, 'in', 'both');
      out({ ready: g.readSync(), edge: g.edge(), direction: g.direction() });
      g.watch((err, value) => {
        out({ value, err: err ? String(err) : null });
        if (value === 0) { g.unexport(); process.exit(0); }
      });
      `,
    );
    try {
      const ready = await waitFor('onoff ready', () => run.lines.find((l) => 'ready' in l), 10_000);
      expect(run.lines[0]).toEqual({ bcm17: 'EINVAL' });
      expect(ready).toEqual({ ready: 0, edge: 'both', direction: 'in' });
      expect(await sim.exported()).toEqual([line]);
      await sim.setInput(17, true);
      await waitFor('rising edge', () => run.lines.find((l) => l.value === 1));
      await sim.setInput(17, false);
      expect(await run.exited).toBe(0);
      expect(run.lines.slice(2)).toEqual([
        { value: 1, err: null },
        { value: 0, err: null },
      ]);
      expect(await sim.exported()).toEqual([]);
    } finally {
      run.child.kill('SIGKILL');
    }
  });
});

describe.skipIf(!gpioReady).each(servers())('GPIO devices end to end (Pi 5 numbering, real %s)', (kind) => {
  let sim: GpioSimulator;
  let server: XmppServer;
  let owner: TestClient;
  let agent: NamespacedAgent | undefined;
  let compiled: { entry: string; remove(): void } | undefined;
  let dir: ReturnType<typeof tempDir>;

  const latest = (itemId: string, after = 0): Notification | undefined =>
    owner.notifications.slice(after).findLast((n) => n.itemId === itemId);
  const stateOf = (n: Notification | undefined) => n?.fields.find((f) => f.name === 'state')?.value;

  beforeAll(async () => {
    dir = tempDir();
    sim = await startGpioSimulator({ board: 'pi5' });
    compiled = compileChildAgent();
    server = await startServer(kind, {
      accounts: [
        { username: 'pi', password: 'pi-secret' },
        { username: 'alice', password: 'alice-secret' },
        { username: 'bob', password: 'bob-secret' },
      ],
    });
    owner = await startClient(server, 'alice', 'alice-secret', { approve: ['pi@localhost'] });
    const configPath = join(dir.path, 'pi.yaml');
    writeFileSync(
      configPath,
      `
xmpp:
  service: ${server.service}
  domain: ${server.domain}
  username: pi
  password: pi-secret
  resource: agent
  reconnect: { min: 200ms, max: 1s }
owners: [alice@localhost, bob@localhost]
store: ${join(dir.path, 'pi.db')}
devices:
  - id: button
    type: gpio_input
    pin: 17
    activeLow: true
    debounce: 0ms
  - id: door
    type: gpio_input
    pin: 22
    debounce: 50ms
  - id: relay
    type: gpio_output
    pin: 27
`,
    );
    // Idle high: the button pulls the line to ground when pressed (pull-up wiring, active-low).
    await sim.setInput(17, true);
    agent = await startNamespacedAgent(sim, compiled.entry, configPath);
    await owner.sensors.subscribe('pi@localhost');
    // Compiling the child (~3 s), an ejabberd start (3-5 s) and SCRAM logins (~0.5 s each there) add up.
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await owner?.stop();
    await server?.stop();
    await sim?.stop();
    compiled?.remove();
    dir?.remove();
  });

  it('exports BCM 17, 22 and 27 as 588, 593 and 598 without being told the chip base', async () => {
    // Devices start beside the connection: the lines may still be opening when the agent is online.
    const deadline = Date.now() + 5000;
    while ((await sim.exported()).length < 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(await sim.exported()).toEqual([588, 593, 598]);
    expect(await sim.direction(17)).toBe('in');
    expect(await sim.direction(27)).toBe('out');
    expect(await sim.level(27)).toBe(false);
  });

  it('publishes each button edge to the owner as a PEP notification at once', async () => {
    // The states published at start may precede the owner's subscription (PEP then has nobody to notify):
    // press and release until a press reaches the owner, then measure.
    let level = stateOf(latest('button')) === 'true';
    for (let attempt = 0; ; attempt++) {
      if (attempt === 20) throw new Error('no button notification reached the owner');
      const before = owner.notifications.length;
      level = !level;
      await sim.setInput(17, !level);
      const got = await waitFor('a button notification', () => latest('button', before), 500).catch(
        () => undefined,
      );
      if (got && stateOf(got) === String(level)) break;
    }
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const pressed = i % 2 === 0 ? !level : level;
      const before = owner.notifications.length;
      const at = Date.now();
      await sim.setInput(17, !pressed); // active-low: pressed = line low
      await waitFor(
        `notification ${i}`,
        () => stateOf(latest('button', before)) === String(pressed),
        5000,
        1,
      );
      latencies.push(Date.now() - at);
    }
    latencies.sort((a, b) => a - b);
    const median = latencies[5] as number;
    console.log(`GPIO edge → owner notification: median ${median} ms, max ${latencies.at(-1)} ms (10 edges)`);
    expect(median).toBeLessThan(500);
    const n = latest('button');
    expect(n).toMatchObject({ from: 'pi@localhost', node: 'urn:xmpp:iot:sensordata', itemId: 'button' });
    expect(n?.fields.find((f) => f.name === 'state')).toMatchObject({ type: 'boolean', nodeId: 'button' });
  });

  it('debounces a bouncing contact into one reading with the settled level', async () => {
    const live = agent as NamespacedAgent;
    const doorStates = () =>
      live.readings
        .filter((r) => r.reading.deviceId === 'door')
        .map((r) => r.reading.fields.find((f) => f.name === 'state')?.value);
    await waitFor('the initial door state', () => doorStates().length === 1);
    expect(doorStates()).toEqual([false]);
    for (const level of [true, false, true, false, true]) await sim.setInput(22, level);
    await waitFor('the settled door state', () => doorStates().length >= 2);
    await new Promise((r) => setTimeout(r, 150));
    expect(doorStates()).toEqual([false, true]);
    const before = owner.notifications.length;
    await sim.setInput(22, false);
    await waitFor('door closed published', () => stateOf(latest('door', before)) === 'false');
  });

  it("gpio_output: the runner's set drives the simulated pin and the new state is published", async () => {
    const live = agent as NamespacedAgent;
    const before = owner.notifications.length;
    await live.set('relay', { state: true });
    expect(await sim.level(27)).toBe(true);
    const n = await waitFor('relay on published', () =>
      stateOf(latest('relay', before)) === 'true' ? latest('relay', before) : undefined,
    );
    expect(n.fields.find((f) => f.name === 'state')?.writable).toBe(true);
    await live.set('relay', { state: false });
    expect(await sim.level(27)).toBe(false);

    await live.set('relay', { pulse: 'PT0.3S' });
    expect(await sim.level(27)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(await sim.level(27)).toBe(false);
    await expect(live.set('relay', { pulse: 'soon' })).rejects.toThrow(/duration/);
  });

  it.skipIf(!requireSlixmpp())(
    'slixmpp switches the relay by XEP-0325 IQ set and message set: the pin follows, the state is published',
    async () => {
      const slix = (action: 'control-set' | 'control-message', value: string) =>
        runSlixmpp({
          jid: 'bob@localhost',
          password: 'bob-secret',
          port: server.c2sPort,
          action,
          target: 'pi@localhost/agent',
          params: [['state', 'boolean', value]],
          nodeIds: ['relay'],
        });
      const before = owner.notifications.length;
      expect((await slix('control-set', 'true')).results).toEqual(['OK']);
      expect(await sim.level(27)).toBe(true);
      await waitFor(
        'relay on published to the owner',
        () => stateOf(latest('relay', before)) === 'true' || undefined,
      );
      const middle = owner.notifications.length;
      await slix('control-message', 'false');
      await waitFor(
        'the pin low after the message set',
        async () => (await sim.level(27)) === false || undefined,
      );
      await waitFor(
        'relay off published to the owner',
        () => stateOf(latest('relay', middle)) === 'false' || undefined,
      );
    },
  );

  it('stops cleanly: lines unexported, the relay back to its initial level', async () => {
    await (agent as NamespacedAgent).set('relay', { state: true });
    expect(await (agent as NamespacedAgent).stop()).toBe(0);
    agent = undefined;
    expect(await sim.exported()).toEqual([]);
    expect(await sim.level(27)).toBe(false);
  });
});

describe.each(servers())('ds18b20 end to end on a simulated 1-Wire tree (real %s)', (kind) => {
  let w1: OneWireSimulator;
  let server: XmppServer;
  let owner: TestClient;
  let agent: Agent;
  let dir: ReturnType<typeof tempDir>;
  const id = '28-0316a2795bff';

  beforeAll(async () => {
    dir = tempDir();
    w1 = startOneWireSimulator({ probes: [{ id, celsius: (ms) => 21 + Math.min(ms, 60_000) / 10_000 }] });
    server = await startServer(kind, {
      accounts: [
        { username: 'shed', password: 'shed-secret' },
        { username: 'alice', password: 'alice-secret' },
      ],
    });
    owner = await startClient(server, 'alice', 'alice-secret', { approve: ['shed@localhost'] });
    agent = await startAgent(
      agentConfig(server, {
        username: 'shed',
        password: 'shed-secret',
        owners: ['alice@localhost'],
        store: join(dir.path, 'shed.db'),
        extraYaml: `hardware: { sysRoot: ${w1.root} }`,
        devicesYaml: `
  - id: probe
    type: ds18b20
    interval: 200ms`,
      }),
    );
    await owner.sensors.subscribe('shed@localhost');
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await owner?.stop();
    await server?.stop();
    w1?.stop();
    dir?.remove();
  });

  it('publishes the probe temperature to the owner; a CRC failure makes it unavailable, then it recovers', async () => {
    const n = await waitFor('a temperature notification', () =>
      owner.notifications.find((x) => x.itemId === 'probe' && x.fields.some((f) => f.name === 'temperature')),
    );
    const t = n.fields.find((f) => f.name === 'temperature');
    expect(t).toMatchObject({ type: 'numeric', unit: '°C', nodeId: 'probe' });
    expect(Number(t?.value)).toBeGreaterThanOrEqual(21);
    expect(Number(t?.value)).toBeLessThan(27);
    expect(n.fields.find((f) => f.name === 'sensorId')?.value).toBe(id);

    w1.setCrcFailure(id, true);
    await waitFor('unavailable', () => agent.status().devices.probe?.available === false);
    expect(agent.status().devices.probe?.lastError?.message).toMatch(/CRC/);
    w1.setCrcFailure(id, false);
    await waitFor('recovered', () => agent.status().devices.probe?.available === true, 15_000);
  });
});
