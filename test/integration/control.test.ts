import { xml } from '@xmpp/client';
import { beforeEach, describe, expect, it } from 'vitest';
import { type ControlError, createControlClient } from '../../src/operator/control-client.js';
import { parseDiscoInfo } from '../../src/xmpp/disco.js';
import { NS } from '../../src/xmpp/ns.js';
import { waitFor } from '../helpers/agent.js';
import { useAgentFixture } from '../helpers/agent-fixture.js';
import { hallWithActuators, memoryActuatorState, memoryActuatorWrites } from '../helpers/fake-devices.js';
import { requireSlixmpp } from '../helpers/requirements.js';
import { servers } from '../helpers/servers.js';
import { runSlixmpp } from '../helpers/slixmpp.js';

describe.each(servers())('XEP-0325 control of the agent (%s)', (kind) => {
  const fx = useAgentFixture({
    server: kind,
    accounts: { hall: 'agent-secret', alice: 'alice-secret', bob: 'bob-secret', mallory: 'mallory-secret' },
    clients: { owner: { username: 'alice', approve: ['hall@localhost'] }, stranger: { username: 'mallory' } },
    agent: hallWithActuators,
    subscribe: ['owner'],
  });

  beforeEach(() => {
    memoryActuatorState.clear();
    memoryActuatorWrites.length = 0;
  });

  it('advertises urn:xmpp:iot:control and XEP-0184 receipts', async () => {
    const r = await fx.owner.transport.request(
      xml('iq', { type: 'get', to: fx.jid }, xml('query', { xmlns: NS.discoInfo })),
    );
    const { features } = parseDiscoInfo(r.getChild('query') as never);
    expect(features).toEqual(expect.arrayContaining([NS.control, 'urn:xmpp:receipts']));
  });

  it('applies an IQ set in document order, answers setResponse, and publishes the new state as writable', async () => {
    const control = createControlClient(fx.owner.transport);
    // PEP reaches the owner only once the server knows its +notify caps, which ejabberd asks for (disco#info)
    // after the subscription is approved; PEP never redelivers. The server then sends the last item it holds
    // (the agent published each device at start): from that point on, a publish is notified.
    await waitFor('PEP notifications reaching the owner', () => fx.owner.notifications.length > 0);
    const before = fx.owner.notifications.length;
    await control.set(
      fx.jid,
      [
        { name: 'level', type: 'int', value: 40 },
        { name: 'state', type: 'boolean', value: true },
      ],
      ['relay'],
    );
    expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { level: 40, state: true } }]);
    expect(Object.keys(memoryActuatorWrites[0]!.values)).toEqual(['level', 'state']);
    const n = await waitFor('the new state over PEP', () =>
      fx.owner.notifications
        .slice(before)
        .find((x) => x.itemId === 'relay' && x.fields.some((f) => f.name === 'state' && f.value === 'true')),
    );
    expect(n.fields.find((f) => f.name === 'state')?.writable).toBe(true);
    expect(n.fields.find((f) => f.name === 'level')).toMatchObject({ value: '40', writable: true });
  });

  it('accepts every parameter type', async () => {
    const control = createControlClient(fx.owner.transport);
    await control.set(
      fx.jid,
      [
        { name: 'state', type: 'boolean', value: false },
        { name: 'level', type: 'int', value: 100 },
        { name: 'counter', type: 'long', value: 9007199254740993n },
        { name: 'setpoint', type: 'double', value: 21.5 },
        { name: 'mode', type: 'string', value: 'manual' },
        { name: 'day', type: 'date', value: '2026-11-24' },
        { name: 'at', type: 'time', value: '07:30:00' },
        { name: 'when', type: 'dateTime', value: '2026-11-24T07:30:00Z' },
        { name: 'fade', type: 'duration', value: 'PT1.5S' },
        { name: 'colour', type: 'color', value: 'FF8800' },
      ],
      ['lamp'],
    );
    expect(memoryActuatorWrites[0]?.values).toEqual({
      state: false,
      level: 100,
      counter: 9007199254740993n,
      setpoint: 21.5,
      mode: 'manual',
      day: '2026-11-24',
      at: '07:30:00',
      when: '2026-11-24T07:30:00Z',
      fade: 'PT1.5S',
      colour: 'FF8800',
    });
  });

  it('changes nothing when one parameter among valid ones is invalid: bad-request with a paramError naming it', async () => {
    const control = createControlClient(fx.owner.transport);
    const err = (await control
      .set(
        fx.jid,
        [
          { name: 'state', type: 'boolean', value: true },
          { name: 'level', type: 'int', value: 140 },
        ],
        ['relay'],
      )
      .catch((e) => e)) as ControlError;
    expect(err.condition).toBe('bad-request');
    expect(Object.keys(err.params)).toEqual(['level']);
    expect(err.params.level).toMatch(/at most 100/);
    expect(memoryActuatorWrites).toEqual([]);
  });

  it('refuses an unknown parameter, a wrong type and an unaddressed set among several devices', async () => {
    const control = createControlClient(fx.owner.transport);
    await expect(
      control.set(fx.jid, [{ name: 'turbo', type: 'boolean', value: true }], ['relay']),
    ).rejects.toMatchObject({
      condition: 'item-not-found',
      params: { turbo: expect.stringMatching(/no parameter turbo/) },
    });
    await expect(
      control.set(fx.jid, [{ name: 'state', type: 'int', value: 1 }], ['relay']),
    ).rejects.toMatchObject({
      condition: 'bad-request',
      params: { state: expect.stringMatching(/boolean/) },
    });
    await expect(
      control.set(fx.jid, [{ name: 'state', type: 'boolean', value: true }]),
    ).rejects.toMatchObject({
      condition: 'bad-request',
    });
    expect(memoryActuatorWrites).toEqual([]);
  });

  it("accepts Smack's <bool> element", async () => {
    await fx.owner.transport.request(
      xml(
        'iq',
        { type: 'set', to: fx.jid },
        xml(
          'set',
          { xmlns: NS.control },
          xml('node', { nodeId: 'relay' }),
          xml('bool', { name: 'state', value: 'true' }),
        ),
      ),
    );
    expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { state: true } }]);
  });

  it('lists every writable parameter in getForm with its XEP-0122 datatype, range and notSame', async () => {
    const form = await createControlClient(fx.owner.transport).getForm(fx.jid, ['relay']);
    const fields = form.filter((f) => f.type !== 'hidden');
    expect(fields.map((f) => f.var)).toEqual([
      'state',
      'level',
      'counter',
      'setpoint',
      'mode',
      'label',
      'day',
      'at',
      'when',
      'fade',
      'colour',
    ]);
    expect(fields.every((f) => f.notSame)).toBe(true);
    expect(fields.find((f) => f.var === 'level')).toMatchObject({
      datatype: 'xs:int',
      min: '0',
      max: '100',
      value: '0',
    });
    expect(fields.find((f) => f.var === 'setpoint')).toMatchObject({
      datatype: 'xs:double',
      min: '5',
      max: '30',
    });
    expect(fields.find((f) => f.var === 'state')).toMatchObject({
      type: 'boolean',
      datatype: 'xs:boolean',
      value: '0',
    });
    expect(fields.find((f) => f.var === 'mode')).toMatchObject({
      type: 'list-single',
      options: ['auto', 'manual', 'off'],
      value: 'auto',
    });
  });

  it('applies only the fields present in a submitted form', async () => {
    await createControlClient(fx.owner.transport).submitForm(fx.jid, { setpoint: '22.5' }, ['relay']);
    expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { setpoint: 22.5 } }]);
  });

  it('applies a message set and sends a receipt when asked', async () => {
    await createControlClient(fx.owner.transport).setByMessage(
      fx.jid,
      [{ name: 'mode', type: 'string', value: 'off' }],
      {
        nodes: ['lamp'],
        receipt: true,
      },
    );
    expect(memoryActuatorWrites).toEqual([{ deviceId: 'lamp', values: { mode: 'off' } }]);
  });

  it("refuses a stranger's IQ set with forbidden and ignores its message set without a receipt", async () => {
    const control = createControlClient(fx.stranger.transport);
    await expect(
      control.set(fx.jid, [{ name: 'state', type: 'boolean', value: true }], ['relay']),
    ).rejects.toMatchObject({
      condition: 'forbidden',
    });
    await expect(
      control.setByMessage(fx.jid, [{ name: 'state', type: 'boolean', value: true }], {
        nodes: ['relay'],
        receipt: true,
        timeoutMs: 700,
      }),
    ).rejects.toThrow(/no receipt/);
    await expect(control.getForm(fx.jid, ['relay'])).rejects.toMatchObject({ condition: 'forbidden' });
    expect(memoryActuatorWrites).toEqual([]);
  });

  describe.skipIf(!requireSlixmpp())('with slixmpp 1.8.3 as the client', () => {
    const slix = (action: 'control-set' | 'control-message', params: [string, string, string][]) =>
      runSlixmpp({
        jid: 'bob@localhost',
        password: 'bob-secret',
        port: fx.server.c2sPort,
        action,
        target: fx.jid,
        params,
        nodeIds: ['relay'],
      });

    it('switches a relay via IQ set and via message set', async () => {
      const viaIq = await slix('control-set', [['state', 'boolean', 'true']]);
      expect(viaIq.results).toEqual(['OK']);
      expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { state: true } }]);
      await slix('control-message', [['state', 'boolean', 'false']]);
      await waitFor('the message set applied', () => memoryActuatorWrites.length === 2);
      expect(memoryActuatorWrites[1]).toEqual({ deviceId: 'relay', values: { state: false } });
    });

    it('gets an RFC 6120 error with paramError for an out-of-range value, and nothing changes', async () => {
      const r = await slix('control-set', [['level', 'int', '999']]).catch((e) => e.result);
      expect(r.iqErrors?.[0]).toMatchObject({ condition: 'bad-request' });
      expect(memoryActuatorWrites).toEqual([]);
    });
  });
});
