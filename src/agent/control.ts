/**
 * XEP-0325 Control (urn:xmpp:iot:control), device side: `set` by IQ (→ `setResponse` or an RFC 6120 error with
 * `paramError`) and by message (no reply; a XEP-0184 receipt when asked), typed parameters or a submitted form,
 * and `getForm` (XEP-0004 form with XEP-0122 validation and XEP-0336 notSame on every parameter).
 * Every parameter is validated against every addressed node before anything is applied; then parameters are
 * applied in document order. Unknown parameters are refused, never silently accepted (interop.md).
 * https://xmpp.org/extensions/xep-0325.html; the vocabulary (types, parsing, forms) is src/iot/control.ts.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  ACCEPTED_ELEMENTS,
  AggregateParamError,
  controlForm,
  NS_RECEIPTS,
  PARAMETER_ELEMENTS,
  ParamError,
  parseControlValue,
  parseSet,
  type ParsedSet,
} from '../iot/control.js';
import { type Decision, tokensOf } from '../iot/provisioning.js';
import type { ControlValues } from '../sdk/index.js';
import { NS } from '../xmpp/ns.js';
import { limitError, quote, stanzaError } from '../xmpp/stanza-errors.js';
import type { Transport } from '../xmpp/transport.js';
import type { AccessPolicy, RequestLimiter } from './access.js';
import type { DeviceRunner } from './runner.js';

export interface ControlOutcome {
  devices: DeviceRunner[];
  values: ControlValues;
}

export function createControlService(deps: {
  transport: Transport;
  access: AccessPolicy;
  devices: ReadonlyMap<string, DeviceRunner>;
  log: Logger;
  /** limits.parametersPerSet, limits.stringLength and the per-requester rate. */
  limits?: { parametersPerSet: number; stringLength: number; limiter?: RequestLimiter };
}) {
  const { transport, access, devices, log } = deps;
  const maxParams = deps.limits?.parametersPerSet ?? 64;
  const maxString = deps.limits?.stringLength ?? 1024;
  const limiter = deps.limits?.limiter;
  const controllable = () => [...devices.values()].filter((d) => d.controlSpecs.length > 0);

  function targets(nodeIds: string[]): DeviceRunner[] {
    if (nodeIds.length === 0) {
      const all = controllable();
      if (all.length === 1) return all;
      throw new ParamError(
        '',
        all.length ? 'bad-request' : 'item-not-found',
        all.length
          ? 'several devices can be controlled here: address one with <node nodeId=…/>'
          : 'nothing here can be controlled',
      );
    }
    return nodeIds.map((id) => {
      const d = devices.get(id);
      if (!d) throw new ParamError('', 'item-not-found', `unknown node ${quote(id)}`);
      return d;
    });
  }

  /**
   * Validates everything first; throws ParamError(s) and applies nothing on any problem. `allowed` is a
   * provisioning decision's narrowing: parameters or nodes outside it are dropped (and reported back).
   */
  function validate(parsed: ParsedSet, allowed: Decision = { allowed: true }): ControlOutcome[] {
    if (allowed.names) parsed.params = parsed.params.filter((p) => allowed.names?.includes(p.name));
    const targetDevices = targets(parsed.nodeIds).filter(
      (d) => !allowed.nodes || allowed.nodes.includes(d.id),
    );
    if (targetDevices.length === 0)
      throw new ParamError('', 'forbidden', 'none of the addressed nodes may be controlled');
    if (parsed.params.length === 0) throw new ParamError('', 'bad-request', 'no parameters to set');
    const errors: ParamError[] = [];
    const outcomes = targetDevices.map((device) => {
      const values: ControlValues = {};
      for (const p of parsed.params) {
        const spec = device.controlSpecs.find((c) => c.name === p.name);
        try {
          if (!spec)
            throw new ParamError(
              p.name,
              'item-not-found',
              `node ${device.id} has no parameter ${quote(p.name)}`,
            );
          if (p.element !== 'form' && !PARAMETER_ELEMENTS.has(p.element)) {
            throw new ParamError(
              p.name,
              'bad-request',
              `<${quote(p.element)}> is not a XEP-0325 parameter type`,
            );
          }
          if (p.element !== 'form' && !ACCEPTED_ELEMENTS[spec.type].includes(p.element)) {
            throw new ParamError(
              p.name,
              'bad-request',
              `is a ${spec.type} parameter, not ${quote(p.element)}`,
            );
          }
          values[p.name] = parseControlValue(spec, p.value, maxString);
        } catch (err) {
          if (!(err instanceof ParamError)) throw err;
          if (!errors.some((e) => e.param === err.param && e.message === err.message)) errors.push(err);
        }
      }
      return { devices: [device], values };
    });
    if (errors.length) throw new AggregateParamError(errors);
    return outcomes;
  }

  async function apply(outcomes: ControlOutcome[]): Promise<void> {
    for (const {
      devices: [device],
      values,
    } of outcomes)
      await device?.set(values);
  }

  function errorElement(err: unknown): Element {
    if (err instanceof AggregateParamError) {
      // item-not-found when a parameter does not exist anywhere; bad-request for the rest (XEP-0325 §3.3);
      // policy-violation when a value is over one of our limits.
      const condition = err.errors.some((e) => e.condition === 'item-not-found')
        ? 'item-not-found'
        : err.errors.some((e) => e.condition === 'policy-violation')
          ? 'policy-violation'
          : 'bad-request';
      // Parameter names come from the peer: quoted, never echoed whole (issue 13, no amplification).
      return stanzaError(
        condition,
        err.errors.map((e) => (e.param ? `${quote(e.param)}: ${e.message}` : e.message)).join('; '),
        ...err.errors
          .filter((e) => e.param)
          .map((e) => xml('paramError', { xmlns: NS.control, var: quote(e.param) }, e.message)),
      );
    }
    if (err instanceof ParamError) {
      return stanzaError(
        err.condition,
        err.message,
        ...(err.param ? [xml('paramError', { xmlns: NS.control, var: quote(err.param) }, err.message)] : []),
      );
    }
    return stanzaError('internal-server-error', errorMessage(err));
  }

  /** Parses and asks access (owners, or provisioning with narrowing); throws ParamError when refused. */
  async function authorise(from: string, set: Element): Promise<{ parsed: ParsedSet; decision: Decision }> {
    const parsed = parseSet(set, maxParams);
    const decision = await access.canControl(from, {
      nodes: parsed.nodeIds,
      parameters: [...new Set(parsed.params.map((p) => p.name))],
      tokens: tokensOf(set),
    });
    if (!decision.allowed) throw new ParamError('', 'forbidden', 'not allowed to control this device');
    return { parsed, decision };
  }

  async function onIqSet(stanza: Element, set: Element): Promise<Element> {
    const from = stanza.attrs.from as string;
    if (limiter && !limiter.take(from)) return limitError('requestRate', limiter.rate, 'too many requests');
    let outcomes: ControlOutcome[];
    let narrowed: boolean;
    try {
      const { parsed, decision } = await authorise(from, set);
      const asked = parsed.params.length;
      outcomes = validate(parsed, decision);
      narrowed = decision.names !== undefined || decision.nodes !== undefined;
      if (asked > 0 && outcomes.every((o) => Object.keys(o.values).length === 0)) {
        throw new ParamError('', 'forbidden', 'none of these parameters may be set');
      }
    } catch (err) {
      return errorElement(err);
    }
    try {
      await apply(outcomes);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'control failed');
      return errorElement(err);
    }
    log.info({ from, params: Object.keys(outcomes[0]?.values ?? {}) }, 'control applied');
    // An empty setResponse means "done exactly as asked"; after narrowing it lists what was applied
    // (XEP-0325 §3.1). responseCode='OK' is for slixmpp callers (interop.md).
    return xml(
      'setResponse',
      { xmlns: NS.control, responseCode: 'OK' },
      ...(narrowed
        ? [
            ...outcomes.flatMap((o) => o.devices.map((d) => xml('node', { nodeId: d.id }))),
            ...[...new Set(outcomes.flatMap((o) => Object.keys(o.values)))].map((name) =>
              xml('parameter', { name }),
            ),
          ]
        : []),
    );
  }

  async function onMessage(stanza: Element): Promise<void> {
    if (!stanza.is('message') || stanza.attrs.type === 'error') return;
    const set = stanza.getChild('set', NS.control);
    if (!set) return;
    const from = stanza.attrs.from as string;
    // A message set has no reply (XEP-0325 §3.1): over the rate it is dropped, without a receipt.
    if (limiter && !limiter.take(from)) {
      log.debug({ from }, 'control message over limits.requestRate dropped');
      return;
    }
    try {
      const { parsed, decision } = await authorise(from, set);
      await apply(validate(parsed, decision));
      log.info({ from }, 'control applied (message)');
    } catch (err) {
      // XEP-0325 §3.1: message sets get no reply; a refused sender gets no receipt either (XEP-0184 §8).
      log.info({ from, err: errorMessage(err) }, 'control message refused');
      if (err instanceof ParamError && err.condition === 'forbidden') return;
    }
    const id = stanza.attrs.id as string | undefined;
    if (id && stanza.getChild('request', NS_RECEIPTS)) {
      await transport.send(
        xml('message', { to: from, id: `${id}-receipt` }, xml('received', { xmlns: NS_RECEIPTS, id })),
      );
    }
  }

  async function onGetForm(stanza: Element, getForm: Element): Promise<Element> {
    if (limiter && !limiter.take(stanza.attrs.from as string))
      return limitError('requestRate', limiter.rate, 'too many requests');
    let targetDevices: DeviceRunner[];
    let decision: Decision;
    try {
      const nodeIds = getForm.getChildren('node').map((n) => n.attrs.nodeId as string);
      decision = await access.canControl(stanza.attrs.from as string, {
        nodes: nodeIds,
        parameters: [],
        tokens: tokensOf(getForm),
      });
      if (!decision.allowed) throw new ParamError('', 'forbidden', 'not allowed to control this device');
      targetDevices = targets(nodeIds).filter((d) => !decision.nodes || decision.nodes.includes(d.id));
    } catch (err) {
      return errorElement(err);
    }
    // Several nodes: only the parameters they all have, with the same type (XEP-0325 §3.4).
    const [first, ...rest] = targetDevices;
    const specs = (first?.controlSpecs ?? []).filter(
      (spec) =>
        (!decision.names || decision.names.includes(spec.name)) &&
        rest.every((d) => d.controlSpecs.some((c) => c.name === spec.name && c.type === spec.type)),
    );
    const current =
      targetDevices.length === 1 && first ? await first.readNow().catch(() => undefined) : undefined;
    return controlForm(
      specs,
      (spec) => current?.fields.find((f) => f.name === (spec.field ?? spec.name))?.value,
    );
  }

  return {
    register() {
      transport.handleIq('set', NS.control, 'set', onIqSet);
      transport.handleIq('get', NS.control, 'getForm', onGetForm);
      transport.on('stanza', (stanza: Element) => {
        void onMessage(stanza).catch((err) => log.warn({ err: errorMessage(err) }, 'control message failed'));
      });
    },
    /** For the command table (chat, ad-hoc, CLI): authorise, validate and apply a set element from `from`. */
    async execute(from: string, set: Element): Promise<void> {
      const { parsed, decision } = await authorise(from, set);
      await apply(validate(parsed, decision));
    },
  };
}
