import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import type { Reading } from '../../src/model/fields.js';
import type { DeviceRunner } from '../../src/agent/runner.js';
import { openStore, type ReadingStore } from '../../src/store/store.js';
import type { AccessPolicy } from '../../src/agent/access.js';
import { NS } from '../../src/xmpp/ns.js';
import { createReadoutService } from '../../src/agent/readout.js';
import { HISTORY_TRUNCATED, NS_READOUT } from '../../src/iot/sensordata.js';
import { parseFields } from '../../src/iot/sensordata.js';
import type { IqHandler, Transport } from '../../src/xmpp/transport.js';

const OWNER = 'alice@example.org/phone';
const T0 = Date.parse('2026-01-01T00:00:00Z');

/** A transport that records what the service sends, and hands its `req` handler to the test. */
function fakeTransport() {
  const sent: Element[] = [];
  let handler: IqHandler | undefined;
  const transport = {
    send: async (el: Element) => void sent.push(el),
    handleIq: (type: string, _ns: string, name: string, h: IqHandler) => {
      if (type === 'get' && name === 'req') handler = h;
    },
  } as unknown as Transport;
  return {
    transport,
    sent,
    request: (req: Element) => (handler as IqHandler)(xml('iq', { from: OWNER }), req),
  };
}

const everyoneMayRead = { canRead: async () => ({ allowed: true }) } as unknown as AccessPolicy;
const stores: ReadingStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

function storeWith(perDevice: Record<string, number>): ReadingStore {
  const store = openStore(':memory:');
  stores.push(store);
  for (const [deviceId, n] of Object.entries(perDevice))
    for (let i = 0; i < n; i++) {
      const reading: Reading = {
        deviceId,
        timestamp: T0 + i * 1000,
        fields: [{ name: 'n', type: 'int', value: i, flags: ['momentary'], qos: ['automaticReadout'] }],
      };
      store.add(reading, false);
    }
  return store;
}

async function historicalReadout(store: ReadingStore, devices: string[], limit: number) {
  const t = fakeTransport();
  const service = createReadoutService({
    transport: t.transport,
    access: everyoneMayRead,
    devices: new Map(devices.map((id) => [id, { id } as DeviceRunner])),
    store,
    log: silentLogger(),
    options: { historyLimit: limit, timestampsPerMessage: 10 },
  });
  service.register();
  const accepted = await t.request(
    xml(
      'req',
      { xmlns: NS.sensordata, seqnr: '5', historicalOther: 'true' },
      ...devices.map((nodeId) => xml('node', { nodeId })),
    ),
  );
  expect((accepted as Element).name).toBe('accepted');
  const payloads = () => t.sent.map((m) => m.getChildElements()[0] as Element);
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 2000;
    const poll = () => {
      if (payloads().some((p) => p.attrs.done === 'true')) resolve();
      else if (Date.now() > deadline) reject(new Error('no done'));
      else setTimeout(poll, 5);
    };
    poll();
  });
  return payloads();
}

describe('historical readout over the limit', () => {
  it('sends the oldest readings up to the limit, then a failure with done that says where the rest starts', async () => {
    const store = storeWith({ host: 25 });
    const payloads = await historicalReadout(store, ['host'], 20);
    const fields = payloads.filter((p) => p.name === 'fields').flatMap((p) => parseFields(p));
    expect(fields.map((f) => f.value)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    const last = payloads.at(-1) as Element;
    expect(last.name).toBe('failure');
    expect(last.attrs).toMatchObject({ seqnr: '5', done: 'true' });
    expect(payloads.filter((p) => p.attrs.done === 'true')).toHaveLength(1);
    const errors = last.getChildren('error');
    expect(errors.map((e) => e.attrs.nodeId)).toEqual(['host']);
    const restFrom = new Date(T0 + 20_000).toISOString();
    expect(errors[0]?.text()).toBe(
      `${HISTORY_TRUNCATED}: more than 20 readings; sent the oldest 20, the rest starts at ${restFrom}: ask again with from='${restFrom}'`,
    );
    // The same for programs (the xiot CLI): where to resume, and the limit.
    expect(last.getChild('truncated', NS_READOUT)?.attrs).toMatchObject({
      seqnr: '5',
      limit: '20',
      resume: restFrom,
    });
  });

  it('names every node read when several share the limit', async () => {
    const payloads = await historicalReadout(storeWith({ a: 15, b: 15 }), ['a', 'b'], 20);
    const last = payloads.at(-1) as Element;
    expect(last.getChildren('error').map((e) => e.attrs.nodeId)).toEqual(['a', 'b']);
    expect(last.getChildText('error')).toContain(`the rest starts at ${new Date(T0 + 10_000).toISOString()}`);
  });

  it('says nothing about a limit when everything fits (exactly the limit)', async () => {
    const payloads = await historicalReadout(storeWith({ host: 20 }), ['host'], 20);
    expect(payloads.some((p) => p.name === 'failure')).toBe(false);
    expect(payloads.at(-1)).toMatchObject({ name: 'fields', attrs: { done: 'true' } });
    expect(payloads.filter((p) => p.name === 'fields').flatMap((p) => parseFields(p))).toHaveLength(20);
  });
});
