import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { type PtyPair, startPtyPair } from '../../firmware-sim/serial/pty.js';
import { startProsody, type ProsodyServer } from '../../src/devtools/prosody.js';
import type { Agent } from '../../src/runtime/agent.js';
import { createControlClient } from '../../src/xmpp/control-client.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir, waitFor } from '../helpers/agent.js';
import { requireProsody, requireSocat } from '../helpers/requirements.js';

describe.skipIf(!requireProsody() || !requireSocat())('serial actuators through XEP-0325', () => {
  let server: ProsodyServer;
  let agent: Agent;
  let owner: TestClient;
  let board: PtyPair;
  let co2: PtyPair;
  const received: Record<string, Buffer> = { board: Buffer.alloc(0), co2: Buffer.alloc(0) };
  const ports: SerialPort[] = [];
  const dir = tempDir();

  /** The device end of a pty: what the agent writes arrives here. */
  const listen = (pair: PtyPair, key: string) =>
    new Promise<void>((resolve, reject) => {
      const port = new SerialPort({ path: pair.simPath, baudRate: 9600 }, (err) =>
        err ? reject(err) : resolve(),
      );
      port.on('data', (d: Buffer) => {
        received[key] = Buffer.concat([received[key] as Buffer, d]);
      });
      ports.push(port);
    });

  beforeAll(async () => {
    board = await startPtyPair({ dir: dir.path, name: 'board' });
    co2 = await startPtyPair({ dir: dir.path, name: 'co2' });
    await listen(board, 'board');
    await listen(co2, 'co2');
    server = await startProsody({
      accounts: [
        { username: 'shed', password: 'shed-pw' },
        { username: 'alice', password: 'alice-pw' },
      ],
    });
    agent = await startAgent(
      agentConfig(server, {
        username: 'shed',
        password: 'shed-pw',
        owners: ['alice@localhost'],
        store: `${dir.path}/shed.db`,
        devicesYaml: `
  - id: board
    type: line_serial
    port: ${board.devicePath}
    values: { temp: { type: numeric, unit: °C } }
    commands:
      relay: { type: boolean, template: "RELAY {value}\\n" }
      fan: { type: int, template: "FAN {value}\\n", min: 0, max: 3 }
  - id: co2
    type: mhz19
    port: ${co2.devicePath}
    interval: 1h
    responseTimeoutMs: 100`,
      }),
    );
    owner = await startClient(server, 'alice', 'alice-pw');
  });

  afterAll(async () => {
    await agent?.stop({ drainMs: 0 });
    await owner?.stop();
    for (const p of ports) await new Promise((r) => p.close(() => r(undefined)));
    await board?.stop();
    await co2?.stop();
    await server?.stop();
    dir.remove();
  });

  it('writes line_serial command templates to the board, in order, after validation', async () => {
    const control = createControlClient(owner.transport);
    const jid = agent.transport.jid as string;
    await control.set(
      jid,
      [
        { name: 'fan', type: 'int', value: 2 },
        { name: 'relay', type: 'boolean', value: true },
      ],
      ['board'],
    );
    await waitFor(
      'the commands on the wire',
      () => received.board?.toString().includes('RELAY 1\n') || undefined,
    );
    expect(received.board?.toString()).toBe('FAN 2\nRELAY 1\n');
    await expect(control.set(jid, [{ name: 'fan', type: 'int', value: 9 }], ['board'])).rejects.toMatchObject(
      {
        condition: 'bad-request',
      },
    );
    expect(received.board?.toString()).toBe('FAN 2\nRELAY 1\n');
  });

  it('sends MH-Z19 ABC and zero-calibration commands', async () => {
    const control = createControlClient(owner.transport);
    const before = received.co2?.length ?? 0;
    await control.set(
      agent.transport.jid as string,
      [
        { name: 'automaticBaselineCorrection', type: 'boolean', value: false },
        { name: 'calibrateZero', type: 'boolean', value: true },
      ],
      ['co2'],
    );
    await waitFor('two frames', () => (received.co2?.length ?? 0) >= before + 18 || undefined);
    // The runner reads the sensor right after a set (no simulator answers here: that read just fails).
    const frames = received.co2?.subarray(before).toString('hex') ?? '';
    expect(frames.startsWith('ff01790000000000' + '86' + 'ff01870000000000' + '78')).toBe(true);
  });
});
