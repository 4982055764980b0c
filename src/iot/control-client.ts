/**
 * XEP-0325 client side: set parameters on a device (IQ or message) and read its control form. What the CLI,
 * the hub and tests use. Tolerant of older peers (interop.md): slixmpp's `responseCode` in `setResponse`
 * (anything but OK is a failure), errors carried inside `setResponse`, `paramError` details.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { IotError } from '../core/errors.js';
import type { ControlType, ControlValue } from '../sdk/index.js';
import { NS_RECEIPTS, NS_XDATA_DYNAMIC, NS_XDATA_VALIDATE } from './control.js';
import { NS } from '../xmpp/ns.js';
import { type Transport, XmppStanzaError } from '../xmpp/transport.js';

export interface ParameterValue {
  name: string;
  type: ControlType;
  value: ControlValue;
}

export interface FormField {
  var: string;
  type: string;
  label?: string;
  value?: string;
  datatype?: string;
  min?: string;
  max?: string;
  options: string[];
  notSame: boolean;
}

/** A refused set: the condition and, per parameter, why (from `paramError`). */
export class ControlError extends IotError {
  constructor(
    readonly condition: string,
    readonly params: Record<string, string>,
    message: string,
  ) {
    super('IOT_ERR_XMPP', message);
  }
}

const lexical = (v: ControlValue) => (typeof v === 'boolean' ? String(v) : String(v));

function setElement(params: readonly ParameterValue[], nodes: readonly string[]): Element {
  return xml(
    'set',
    { xmlns: NS.control },
    ...nodes.map((nodeId) => xml('node', { nodeId })),
    ...params.map((p) => xml(p.type, { name: p.name, value: lexical(p.value) })),
  );
}

function paramErrors(el: Element | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pe of el?.getChildren('paramError', NS.control) ?? []) out[pe.attrs.var as string] = pe.text();
  return out;
}

export function createControlClient(transport: Transport) {
  async function request(to: string, payload: Element): Promise<Element> {
    try {
      return await transport.request(
        xml('iq', { type: payload.name === 'getForm' ? 'get' : 'set', to }, payload),
      );
    } catch (err) {
      if (err instanceof XmppStanzaError) {
        const error = err.stanza.is('error') ? err.stanza : err.stanza.getChild('error');
        throw new ControlError(err.condition, paramErrors(error), err.message);
      }
      throw err;
    }
  }

  return {
    /** IQ set; resolves when the device confirms, rejects with ControlError (condition + paramErrors). */
    async set(to: string, params: readonly ParameterValue[], nodes: readonly string[] = []): Promise<void> {
      const result = await request(to, setElement(params, nodes));
      const response = result.getChild('setResponse', NS.control);
      const code = response?.attrs.responseCode as string | undefined;
      if (code !== undefined && code !== 'OK')
        throw new ControlError(code, paramErrors(response), `device answered ${code}`);
    },
    /** Message set: no answer by design; with `receipt`, resolves when the XEP-0184 receipt arrives. */
    async setByMessage(
      to: string,
      params: readonly ParameterValue[],
      options: { nodes?: readonly string[]; receipt?: boolean; timeoutMs?: number } = {},
    ): Promise<void> {
      const id = `ctl-${Math.random().toString(36).slice(2)}`;
      const message = xml('message', { to, id }, setElement(params, options.nodes ?? []));
      if (!options.receipt) {
        await transport.send(message);
        return;
      }
      message.append(xml('request', { xmlns: NS_RECEIPTS }));
      const timeoutMs = options.timeoutMs ?? 10_000;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          transport.off('stanza', onStanza);
          reject(new IotError('IOT_ERR_XMPP_TIMEOUT', `no receipt from ${to} within ${timeoutMs} ms`));
        }, timeoutMs);
        const onStanza = (s: Element) => {
          if (s.is('message') && s.getChild('received', NS_RECEIPTS)?.attrs.id === id) {
            clearTimeout(timer);
            transport.off('stanza', onStanza);
            resolve();
          }
        };
        transport.on('stanza', onStanza);
        transport.send(message).catch(reject);
      });
    },
    async getForm(to: string, nodes: readonly string[] = []): Promise<FormField[]> {
      const result = await request(
        to,
        xml('getForm', { xmlns: NS.control }, ...nodes.map((nodeId) => xml('node', { nodeId }))),
      );
      const form = result.getChild('x', NS.dataForms);
      if (!form) throw new ControlError('bad-request', {}, 'the device answered without a form');
      return form.getChildren('field').map((f) => {
        const validate = f.getChild('validate', NS_XDATA_VALIDATE);
        const range = validate?.getChild('range');
        return {
          var: f.attrs.var as string,
          type: (f.attrs.type as string) ?? 'text-single',
          ...(f.attrs.label ? { label: f.attrs.label as string } : {}),
          ...(f.getChildText('value') !== null ? { value: f.getChildText('value') as string } : {}),
          ...(validate?.attrs.datatype ? { datatype: validate.attrs.datatype as string } : {}),
          ...(range?.attrs.min !== undefined ? { min: range.attrs.min as string } : {}),
          ...(range?.attrs.max !== undefined ? { max: range.attrs.max as string } : {}),
          options: f.getChildren('option').map((o) => o.getChildText('value') ?? ''),
          notSame: f.getChild('notSame', NS_XDATA_DYNAMIC) !== undefined,
        };
      });
    },
    /** Submits a form with only the given (changed) fields. */
    async submitForm(
      to: string,
      values: Record<string, string>,
      nodes: readonly string[] = [],
    ): Promise<void> {
      await request(
        to,
        xml(
          'set',
          { xmlns: NS.control },
          ...nodes.map((nodeId) => xml('node', { nodeId })),
          xml(
            'x',
            { xmlns: NS.dataForms, type: 'submit' },
            xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS.control)),
            ...Object.entries(values).map(([v, value]) => xml('field', { var: v }, xml('value', {}, value))),
          ),
        ),
      );
    },
  };
}
