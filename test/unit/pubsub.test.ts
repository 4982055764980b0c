import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../src/model/fields.js';
import { NS } from '../../src/xmpp/ns.js';
import {
  configProblems,
  formFields,
  nodeConfig,
  type PublishTarget,
  publishElement,
  repairFor,
} from '../../src/agent/publisher.js';
import { XmppStanzaError } from '../../src/xmpp/transport.js';

const pep: PublishTarget = { service: 'pep', node: NS.sensordata, accessModel: 'presence' };
const service: PublishTarget = { service: 'pubsub.example.org', node: 'n', accessModel: 'whitelist' };
const reading = { id: 1, deviceId: 'hall', timestamp: new Date(0), fields: [] } as unknown as Reading;

const vars = (x: Element | undefined) =>
  (x?.getChildren('field') ?? []).map((f) => f.attrs.var as string).filter((v) => v !== 'FORM_TYPE');

/** An error as the transport hands it over: the `<iq/>`, its `<error/>` children in the server's order. */
function stanzaError(children: Element[], text?: string): XmppStanzaError {
  const error = xml('error', { type: 'cancel' }, ...children);
  if (text) error.append(xml('text', { xmlns: NS.stanzas }, text));
  const condition = children.find((c) => c.attrs.xmlns === NS.stanzas)?.name ?? 'undefined-condition';
  return new XmppStanzaError(condition, text, xml('iq', { type: 'error', id: 'x' }, error));
}
const cond = (name: string) => xml(name, { xmlns: NS.stanzas });
const pubsubCond = (name: string) => xml(name, { xmlns: NS.pubsubErrors });

describe('publish stanzas', () => {
  it('carries only the publish-options both Prosody and ejabberd accept', () => {
    const iq = publishElement(pep, reading);
    const options = iq.getChild('pubsub')?.getChild('publish-options')?.getChild('x', NS.dataForms);
    expect(vars(options).sort()).toEqual(['pubsub#access_model', 'pubsub#persist_items']);
    expect(formFields(options)['pubsub#access_model']).toBe('presence');
  });

  it('puts the item under the device id, and can leave the publish-options out', () => {
    const iq = publishElement(service, reading, false);
    expect(iq.attrs.to).toBe('pubsub.example.org');
    expect(iq.getChild('pubsub')?.getChild('publish')?.getChild('item')?.attrs.id).toBe('hall');
    expect(iq.getChild('pubsub')?.getChild('publish-options')).toBeUndefined();
  });

  it('configures the node to keep one item per device (max_items), with our access model', () => {
    expect(nodeConfig(pep)).toEqual({
      'pubsub#access_model': 'presence',
      'pubsub#persist_items': 'true',
      'pubsub#max_items': 'max',
    });
  });
});

describe('node configuration read back', () => {
  it('accepts max, or a number at least the device count', () => {
    const ok = { 'pubsub#access_model': 'presence', 'pubsub#persist_items': '1' };
    expect(configProblems(pep, { ...ok, 'pubsub#max_items': 'max' }, 3)).toEqual([]);
    expect(configProblems(pep, { ...ok, 'pubsub#max_items': '1000' }, 3)).toEqual([]);
    expect(configProblems(pep, { ...ok, 'pubsub#max_items': '3' }, 3)).toEqual([]);
  });

  it("names ejabberd's PEP default of one item, another access model and unpersisted items", () => {
    const problems = configProblems(
      pep,
      { 'pubsub#access_model': 'open', 'pubsub#max_items': '1', 'pubsub#persist_items': '0' },
      2,
    );
    expect(problems).toEqual([
      'access model is open, not presence',
      'max_items is 1, fewer than the 2 devices',
      'items are not persisted',
    ]);
  });
});

describe('repairs of publish errors', () => {
  it("reconfigures on Prosody's precondition-not-met (conflict first)", () => {
    expect(repairFor(stanzaError([cond('conflict'), pubsubCond('precondition-not-met')]), pep)).toBe(
      'reconfigure',
    );
  });

  it("reconfigures on ejabberd's precondition-not-met (pubsub condition first)", () => {
    expect(repairFor(stanzaError([pubsubCond('precondition-not-met'), cond('conflict')]), pep)).toBe(
      'reconfigure',
    );
  });

  it("publishes without options on ejabberd's resource-constraint for an unknown publish-options field", () => {
    const err = stanzaError(
      [cond('resource-constraint')],
      "Unknown field 'pubsub#max_items' of type 'http://jabber.org/protocol/pubsub#publish-options'",
    );
    expect(repairFor(err, pep)).toBe('without-options');
  });

  it('does not treat other resource constraints (rate limits) as a publish-options problem', () => {
    expect(repairFor(stanzaError([cond('resource-constraint')], 'too many items'), pep)).toBeUndefined();
  });

  it('prepares the node again when a service node is gone, not a PEP node', () => {
    expect(repairFor(stanzaError([cond('item-not-found')]), service)).toBe('prepare');
    expect(repairFor(stanzaError([cond('item-not-found')]), pep)).toBeUndefined();
  });

  it('has no repair for forbidden, nor for errors that are not stanza errors', () => {
    expect(repairFor(stanzaError([cond('forbidden')]), service)).toBeUndefined();
    expect(repairFor(new Error('offline'), service)).toBeUndefined();
  });
});
