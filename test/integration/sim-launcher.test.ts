import { afterAll, describe, expect, it } from 'vitest';
import { startSimulatedHardware } from '../../firmware-sim/launcher.js';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import type { Agent } from '../../src/agent/agent.js';
import { agentConfig, startAgent, tempDir, waitFor } from '../helpers/agent.js';
import { requireSocat } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';

describe.skipIf(!requireSocat()).each(servers())(
  'xiot sim: the simulated hardware an agent config needs (%s)',
  (kind) => {
    let server: XmppServer | undefined;
    let agent: Agent | undefined;
    let hardware: Awaited<ReturnType<typeof startSimulatedHardware>> | undefined;
    const dir = tempDir();

    afterAll(async () => {
      await agent?.stop({ drainMs: 0 });
      await hardware?.stop();
      await server?.stop();
      dir.remove();
    });

    it('starts serial emulators on the configured ports and a 1-Wire tree; the agent reads them unmodified', async () => {
      server = await startServer(kind, { accounts: [{ username: 'lab', password: 'lab-pw' }] });
      const config = agentConfig(server, {
        username: 'lab',
        password: 'lab-pw',
        owners: ['alice@localhost'],
        store: `${dir.path}/lab.db`,
        extraYaml: `hardware: { sysRoot: ${dir.path}/sys }`,
        devicesYaml: `
  - { id: air, type: sds011, port: ${dir.path}/tty/sds011 }
  - { id: co2, type: mhz19, port: ${dir.path}/tty/mhz19, interval: 500ms }
  - { id: fridge, type: ds18b20, interval: 500ms }
  - { id: host, type: system, interval: 1h }`,
      });
      hardware = await startSimulatedHardware(config);
      expect(hardware.summary).toEqual([
        expect.stringMatching(/^fridge \(ds18b20\): probe 28-/),
        expect.stringMatching(/^air \(sds011\): emulator on .*tty\/sds011$/),
        expect.stringMatching(/^co2 \(mhz19\): emulator on .*tty\/mhz19$/),
        'host (system): real (nothing to simulate)',
      ]);
      agent = await startAgent(config);
      const a = agent;
      const latest = (id: string, field: string) =>
        a.store
          .history({ deviceIds: [id], limit: 1000 })
          .flatMap((r) => r.fields.filter((f) => f.name === field))
          .at(-1)?.value;
      await waitFor(
        'readings from every simulated device',
        () =>
          latest('air', 'pm25') !== undefined &&
          latest('co2', 'co2') !== undefined &&
          latest('fridge', 'temperature') !== undefined,
      );
      expect(latest('air', 'pm25')).toBeGreaterThan(0);
      expect(latest('co2', 'co2')).toBeGreaterThan(300);
      expect(latest('fridge', 'temperature')).toBeGreaterThan(15);
    });

    it('refuses to simulate a device at a real /dev path', async () => {
      server ??= await startServer(kind, { accounts: [{ username: 'lab', password: 'lab-pw' }] });
      const config = agentConfig(server, {
        username: 'lab',
        password: 'lab-pw',
        owners: [],
        store: `${dir.path}/lab2.db`,
        devicesYaml: '  - { id: air, type: sds011, port: /dev/ttyUSB0 }',
      });
      await expect(startSimulatedHardware(config)).rejects.toThrow(/real device path/);
    });
  },
);
