import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { beforeEach, describe, expect, it } from 'vitest';
import { NS_COMMANDS } from '../../src/agent/adhoc.js';
import { NS } from '../../src/xmpp/ns.js';
import { XmppStanzaError } from '../../src/xmpp/transport.js';
import { type TestClient, waitFor } from '../helpers/agent.js';
import { useAgentFixture } from '../helpers/agent-fixture.js';
import { hallWithActuators, memoryActuatorState, memoryActuatorWrites } from '../helpers/fake-devices.js';
import { servers } from '../helpers/servers.js';

/** The error a request got: its condition, type and text (the request must have failed). */
async function refusal(request: Promise<unknown>) {
  const err = await request.then(
    () => {
      throw new Error('the request succeeded');
    },
    (e: unknown) => e,
  );
  if (!(err instanceof XmppStanzaError)) throw err;
  // XmppStanzaError carries the <error/> element, or (transport branch) the whole error reply.
  const error = err.stanza.is('error') ? err.stanza : (err.stanza.getChild('error') as Element);
  return {
    condition: err.condition,
    type: error.attrs.type as string,
    text: error.getChildText('text', NS.stanzas) ?? '',
    error,
  };
}

describe.each(servers())('limits: what one peer may ask of the agent (README "Limits") (%s)', (kind) => {
  const fx = useAgentFixture({
    server: kind,
    accounts: ['hall', 'alice', 'bob', 'mallory'],
    clients: {
      owner: { username: 'alice' },
      flooder: { username: 'bob' },
      stranger: { username: 'mallory' },
    },
    agent: {
      ...hallWithActuators,
      extraYaml: `limits:
  parametersPerSet: 3
  nodesPerRequest: 2
  fieldsPerRequest: 2
  stringLength: 16
  chatBody: 256
  queuedReadouts: 1
  requestRate: 5
  requestBurst: 40`,
    },
  });

  beforeEach(() => {
    memoryActuatorState.clear();
    memoryActuatorWrites.length = 0;
  });

  const iq = (client: TestClient, type: 'get' | 'set', payload: Element) =>
    client.transport.request(xml('iq', { type, to: fx.jid }, payload));
  const req = (seqnr: number, ...children: Element[]) =>
    xml('req', { xmlns: NS.sensordata, seqnr: String(seqnr), momentary: 'true' }, ...children);

  it('refuses a readout naming more nodes than limits.nodesPerRequest, without echoing them', async () => {
    const nodes = ['relay', 'lamp', 'x'.repeat(300)].map((nodeId) => xml('node', { nodeId }));
    const r = await refusal(iq(fx.owner, 'get', req(101, ...nodes)));
    expect(r).toMatchObject({ condition: 'policy-violation', type: 'modify' });
    expect(r.text).toBe('too many nodes: over limits.nodesPerRequest (2)');
  });

  it('refuses a readout naming more fields than limits.fieldsPerRequest', async () => {
    const fields = ['state', 'level', 'mode'].map((name) => xml('field', { name }));
    const r = await refusal(iq(fx.owner, 'get', req(102, ...fields)));
    expect(r).toMatchObject({
      condition: 'policy-violation',
      text: expect.stringContaining('limits.fieldsPerRequest (2)'),
    });
  });

  it('counts queued readouts apart: a second queued one is refused, momentary ones still run', async () => {
    const when = new Date(Date.now() + 3_600_000).toISOString();
    const queued = (seqnr: number) =>
      iq(
        fx.owner,
        'get',
        xml('req', { xmlns: NS.sensordata, seqnr: String(seqnr), momentary: 'true', when }),
      );
    expect((await queued(201)).getChild('accepted')?.attrs.queued).toBe('true');
    const r = await refusal(queued(202));
    expect(r).toMatchObject({ condition: 'resource-constraint', type: 'wait' });
    expect(r.text).toContain('limits.queuedReadouts (1)');
    const now = await fx.owner.sensors.readout(fx.jid, { nodes: ['relay'], types: ['momentary'] });
    expect(now.fields.length).toBeGreaterThan(0);
    await fx.owner.sensors.cancel(fx.jid, 201);
  });

  it('refuses a set with more parameters than limits.parametersPerSet and applies none', async () => {
    const set = xml(
      'set',
      { xmlns: NS.control },
      xml('node', { nodeId: 'relay' }),
      ...[10, 20, 30, 40].map((v) => xml('int', { name: 'level', value: String(v) })),
    );
    const r = await refusal(iq(fx.owner, 'set', set));
    expect(r).toMatchObject({ condition: 'policy-violation', text: 'over limits.parametersPerSet (3)' });
    expect(memoryActuatorWrites).toEqual([]);
  });

  it('refuses a string parameter longer than limits.stringLength, naming the parameter, not the value', async () => {
    const value = 'A'.repeat(10_000);
    const set = xml(
      'set',
      { xmlns: NS.control },
      xml('node', { nodeId: 'relay' }),
      xml('string', { name: 'label', value }),
    );
    const r = await refusal(iq(fx.owner, 'set', set));
    expect(r.condition).toBe('policy-violation');
    expect(r.text).toBe('label: over limits.stringLength (16)');
    expect(r.error.getChild('paramError', NS.control)?.attrs.var).toBe('label');
    expect(r.error.toString()).not.toContain('AAAA');
    expect(memoryActuatorWrites).toEqual([]);
  });

  const controlForm = (formType: string | undefined, fields: Record<string, string>) =>
    xml(
      'x',
      { xmlns: NS.dataForms, type: 'submit' },
      ...(formType ? [xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType))] : []),
      ...Object.entries(fields).map(([v, value]) => xml('field', { var: v }, xml('value', {}, value))),
    );

  it('refuses a XEP-0325 form of another FORM_TYPE and accepts one without FORM_TYPE', async () => {
    const set = (form: Element) => xml('set', { xmlns: NS.control }, xml('node', { nodeId: 'relay' }), form);
    const r = await refusal(iq(fx.owner, 'set', set(controlForm('urn:example:bogus', { state: '1' }))));
    expect(r).toMatchObject({ condition: 'bad-request', text: 'expected FORM_TYPE urn:xmpp:iot:control' });
    expect(memoryActuatorWrites).toEqual([]);
    await iq(fx.owner, 'set', set(controlForm(undefined, { state: '1' })));
    expect(memoryActuatorWrites).toEqual([{ deviceId: 'relay', values: { state: true } }]);
  });

  it('refuses an ad-hoc step whose form has another FORM_TYPE than the step asked for', async () => {
    const node = 'urn:xmpp-iot:command:set';
    const step = (sessionid: string | undefined, form?: Element) =>
      iq(
        fx.owner,
        'set',
        xml(
          'command',
          {
            xmlns: NS_COMMANDS,
            node,
            ...(sessionid ? { sessionid, action: 'execute' } : { action: 'execute' }),
          },
          ...(form ? [form] : []),
        ),
      );
    const first = (await step(undefined)).getChild('command') as Element;
    const sessionid = first.attrs.sessionid as string;
    const wrongChoice = await refusal(step(sessionid, controlForm(NS.control, { device: 'relay' })));
    expect(wrongChoice).toMatchObject({ condition: 'bad-request', text: `expected FORM_TYPE ${node}` });
    await step(sessionid, controlForm(undefined, { device: 'relay' }));
    const wrongForm = await refusal(step(sessionid, controlForm('urn:example:bogus', { state: '1' })));
    expect(wrongForm).toMatchObject({
      condition: 'bad-request',
      text: 'expected FORM_TYPE urn:xmpp:iot:control',
    });
    expect(memoryActuatorWrites).toEqual([]);
  });

  /** Sends a chat line; resolves with the first message from the agent (a chat reply or a message error). */
  const chat = async (client: TestClient, line: string) => {
    const replies: Element[] = [];
    const onStanza = (s: Element) => {
      if (s.is('message') && String(s.attrs.from).startsWith('hall@')) replies.push(s);
    };
    client.transport.on('stanza', onStanza);
    await client.transport.send(xml('message', { to: fx.jid, type: 'chat' }, xml('body', {}, line)));
    const reply = await waitFor(`a reply to a chat line of ${line.length} characters`, () => replies[0]);
    client.transport.off('stanza', onStanza);
    return reply;
  };

  it('answers a chat body over limits.chatBody with a message error naming the limit, not the body', async () => {
    const reply = await chat(fx.owner, `read ${'z'.repeat(1000)}`);
    expect(reply.attrs.type).toBe('error');
    const error = reply.getChild('error') as Element;
    expect(error.getChild('policy-violation', NS.stanzas)).toBeDefined();
    expect(error.getChildText('text', NS.stanzas)).toBe('message too long: over limits.chatBody (256)');
    expect(reply.toString()).not.toContain('zzzz'.repeat(20));
  });

  it('quotes at most 64 characters of what it did not understand, or of an unknown device', async () => {
    const unknown = (await chat(fx.owner, 'y'.repeat(200))).getChildText('body') as string;
    expect(unknown).toContain(`"${'y'.repeat(64)}…"`);
    expect(unknown).not.toContain('y'.repeat(65));
    const device = (await chat(fx.owner, `read ${'d'.repeat(200)}`)).getChildText('body') as string;
    expect(device).toContain(`No device "${'d'.repeat(64)}…"`);
  });

  it('answers requests over limits.requestRate with resource-constraint (wait), every one of them', async () => {
    // Cancels of readouts that do not exist: small replies (ejabberd shapes c2s traffic to 3 kB/s by default).
    const cancel = (client: TestClient, seqnr: number) =>
      refusal(iq(client, 'set', xml('cancel', { xmlns: NS.sensordata, seqnr: String(seqnr) })));
    const outcomes = await Promise.all(Array.from({ length: 60 }, (_, i) => cancel(fx.flooder, 900 + i)));
    const refused = outcomes.filter((o) => o.condition === 'resource-constraint');
    expect(outcomes.filter((o) => o.condition === 'item-not-found').length).toBeGreaterThanOrEqual(40);
    expect(refused.length).toBeGreaterThan(0);
    for (const o of refused)
      expect(o).toMatchObject({ type: 'wait', text: 'too many requests: over limits.requestRate (5)' });
    // Another requester is not affected, and the flooder is served again once its bucket refilled.
    expect((await cancel(fx.owner, 1)).condition).toBe('item-not-found');
    await new Promise((r) => setTimeout(r, 400));
    expect((await cancel(fx.flooder, 1)).condition).toBe('item-not-found');
  });
});
