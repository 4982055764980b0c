import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createControlClient } from '../../src/operator/control-client.js';
import { startClient, type TestClient, waitFor } from '../helpers/agent.js';
import { requireSlixmpp } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';
import { type SlixmppDevice, startSlixmppDevice } from '../helpers/slixmpp.js';

describe.skipIf(!requireSlixmpp()).each(servers())(
  'our client module against a slixmpp 1.8.3 device (%s)',
  (kind) => {
    let server: XmppServer;
    let device: SlixmppDevice;
    let operator: TestClient;

    beforeAll(async () => {
      server = await startServer(kind, {
        accounts: [
          { username: 'slixdev', password: 'dev-pw' },
          { username: 'op', password: 'op-pw' },
        ],
      });
      device = await startSlixmppDevice({
        jid: 'slixdev@localhost',
        password: 'dev-pw',
        port: server.c2sPort,
      });
      operator = await startClient(server, 'op', 'op-pw');
    });

    afterAll(async () => {
      await operator?.stop();
      await device?.stop();
      await server?.stop();
    });

    it('reads its momentary values (naive timestamps, done attribute)', async () => {
      const result = await operator.sensors.readout(device.jid, {
        types: ['momentary'],
        timeoutMs: 2000,
        retries: 3,
      });
      expect(result.done).toBe(true);
      const byName = Object.fromEntries(result.fields.map((f) => [f.name, f]));
      expect(byName.Temperature).toMatchObject({
        nodeId: 'relay',
        type: 'numeric',
        value: '21.5',
        unit: '°C',
      });
      expect(byName.Output).toMatchObject({ type: 'boolean', value: 'false' });
      // slixmpp sends timestamps without zone: read as local time, so they are close to now.
      expect(Math.abs((byName.Temperature?.timestamp ?? 0) - Date.now())).toBeLessThan(60_000);
    });

    it('switches its output by IQ set (responseCode OK) and by message set', async () => {
      const control = createControlClient(operator.transport);
      await control.set(device.jid, [{ name: 'Output', type: 'boolean', value: true }], ['relay']);
      // The device reports on its stdout, which may arrive after the IQ result came through the server.
      await waitFor('the device to report the set', () =>
        device.events.some((e) => e.event === 'set' && e.name === 'Output' && e.value === 'true'),
      );
      await control.setByMessage(device.jid, [{ name: 'Output', type: 'boolean', value: false }], {
        nodes: ['relay'],
      });
      await waitFor('the message set', () =>
        device.events.some((e) => e.event === 'set' && e.value === 'false'),
      );
    });

    it('treats its legacy rejection of an unknown node as a refusal', async () => {
      await expect(
        operator.sensors.readout(device.jid, { nodes: ['nope'], timeoutMs: 3000 }),
      ).rejects.toMatchObject({
        condition: expect.any(String),
      });
    });
  },
);
