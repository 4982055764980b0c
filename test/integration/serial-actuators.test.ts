import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { type PtyPair, startPtyPair } from '../../firmware-sim/serial/pty.js';
import { createControlClient } from '../../src/operator/control-client.js';
import { tempDir, waitFor } from '../helpers/agent.js';
import { useAgentFixture } from '../helpers/agent-fixture.js';
import { requireSocat } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';

describe.skipIf(!requireSocat()).each(servers())('serial actuators through XEP-0325 (%s)', (kind) => {
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
  });

  afterAll(async () => {
    for (const p of ports) await new Promise((r) => p.close(() => r(undefined)));
    await board?.stop();
    await co2?.stop();
    dir.remove();
  });

  // Registered after the hooks above: starts once the ptys listen, stops before they close.
  const fx = useAgentFixture(() => ({
    server: kind,
    accounts: { shed: 'shed-pw', alice: 'alice-pw' },
    agent: {
      username: 'shed',
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
    },
    clients: { owner: { username: 'alice' } },
    clientsAfterAgent: true,
  }));

  it('writes line_serial command templates to the board, in order, after validation', async () => {
    const control = createControlClient(fx.owner.transport);
    const jid = fx.jid;
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
    const control = createControlClient(fx.owner.transport);
    // Every frame to the sensor is 9 bytes: start at a frame boundary.
    const before = (received.co2?.length ?? 0) - ((received.co2?.length ?? 0) % 9);
    await control.set(
      fx.jid,
      [
        { name: 'automaticBaselineCorrection', type: 'boolean', value: false },
        { name: 'calibrateZero', type: 'boolean', value: true },
      ],
      ['co2'],
    );
    // Read requests (`ff0186…`) interleave at any time: no simulator answers here, so the runner retries its
    // reads with backoff, and it reads right after a set. Only the command frames and their order matter.
    const READ = 'ff01860000000000' + '79';
    const commands = () =>
      (received.co2?.subarray(before).toString('hex').match(/.{18}/g) ?? []).filter((f) => f !== READ);
    await waitFor('two command frames', () => commands().length >= 2 || undefined);
    expect(commands().slice(0, 2)).toEqual(['ff01790000000000' + '86', 'ff01870000000000' + '78']);
  });
});
