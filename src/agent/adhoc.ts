/**
 * XEP-0050 ad-hoc commands for Gajim, Psi, Conversations…: "List devices", "Read device", "Set parameter",
 * "Agent status" (and "Help"), listed at disco#items node `http://jabber.org/protocol/commands`, owners only.
 * Each runs the same command definition as chat and the CLI (src/runtime/commands.ts); forms collect arguments.
 * "Set parameter" is two steps: choose a device, then its XEP-0325 control form (only the submitted fields apply).
 * https://xmpp.org/extensions/xep-0050.html
 */
import { randomUUID } from 'node:crypto';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { COMMANDS, type CommandDef, type CommandDeps } from './commands.js';
import type { Reading } from '../model/fields.js';
import type { ControlSpec } from '../sdk/index.js';
import type { RequestLimiter } from './access.js';
import { controlForm } from '../iot/control.js';
import { commandsError, NS_COMMANDS } from '../xmpp/adhoc.js';
import { formTypeProblem } from '../xmpp/forms.js';
import { NS } from '../xmpp/ns.js';
import { limitError, quote, stanzaError } from '../xmpp/stanza-errors.js';
import type { Transport } from '../xmpp/transport.js';

export { NS_COMMANDS } from '../xmpp/adhoc.js';
const NODE_PREFIX = 'urn:xmpp-iot:command:';
const SESSION_TTL_MS = 10 * 60_000;
/** Open multi-step sessions per requester: each waits up to SESSION_TTL_MS for its next step. */
const SESSIONS_PER_REQUESTER = 16;

interface Session {
  id: string;
  from: string;
  command: CommandDef;
  /** For "set": the device chosen in step 1. */
  device?: string;
  /** For "set": the values the control form was pre-filled with (var → lexical value). */
  offered?: Record<string, string>;
  expires: number;
}

const field = (v: string, type: string, label: string, children: Element[] = []) =>
  xml('field', { var: v, type, label }, ...children);

function valuesOf(form: Element | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of form?.getChildren('field') ?? []) {
    const v = f.getChildText('value');
    if (f.attrs.var && v !== null && f.attrs.var !== 'FORM_TYPE') out[f.attrs.var as string] = v;
  }
  return out;
}

/**
 * Pre-fill of the control form: the value the device reports in the parameter's field, else the last value
 * set through this form (a parameter without a field, e.g. a fade time, has no other source).
 */
function currentValues(
  specs: readonly ControlSpec[],
  reading: Reading | undefined,
  lastSet: Record<string, string> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const value = reading?.fields.find((f) => f.name === (spec.field ?? spec.name))?.value;
    const lexical =
      value instanceof Date
        ? value.toISOString()
        : value !== undefined
          ? String(value)
          : lastSet?.[spec.name];
    if (lexical !== undefined) out[spec.name] = lexical;
  }
  return out;
}

/** Ranges (and the unit of the parameter's field) in labels, for clients that ignore XEP-0122: "Setpoint (5–30 °C)". */
function labelRanges(form: Element, specs: readonly ControlSpec[], reading: Reading | undefined): void {
  for (const f of form.getChildren('field')) {
    const spec = specs.find((c) => c.name === f.attrs.var);
    if (!spec || (spec.min === undefined && spec.max === undefined)) continue;
    const unit = reading?.fields.find((r) => r.name === (spec.field ?? spec.name))?.unit;
    const range =
      spec.min !== undefined && spec.max !== undefined
        ? `${spec.min}–${spec.max}`
        : spec.min !== undefined
          ? `≥ ${spec.min}`
          : `≤ ${spec.max}`;
    f.attrs.label = `${f.attrs.label ?? spec.name} (${range}${unit ? ` ${unit}` : ''})`;
  }
}

const sameValue = (spec: ControlSpec | undefined, a: string, b: string) => {
  if (spec?.type !== 'boolean') return a.trim() === b.trim();
  const bool = (x: string) => ({ '1': true, true: true, '0': false, false: false })[x.trim().toLowerCase()];
  return bool(a) !== undefined && bool(a) === bool(b);
};

/**
 * The submitted control form without the fields the user did not touch. Clients send every field back
 * (Profanity sends untouched ones as an empty `<value/>`, Gajim without a value, pre-filled ones unchanged), so
 * a field is input only if its value is not empty and differs from the one offered. An empty value is never
 * input: for a parameter that had a value it is Profanity's untouched field, for one without a value it
 * changes nothing, and for a non-string it means nothing (so the form cannot set an empty string; chat and
 * the CLI can). Fields that are not parameters (FORM_TYPE, hidden) are kept for the control service to judge.
 */
function changedFields(
  form: Element,
  specs: readonly ControlSpec[],
  offered: Record<string, string>,
): Element {
  const kept = form.getChildren('field').filter((f) => {
    const name = f.attrs.var as string | undefined;
    const spec = specs.find((c) => c.name === name);
    if (!name || !spec) return true;
    const value = f.getChildText('value');
    if (value === null) return false;
    const before = offered[name];
    if (value.trim() === '') return false;
    return before === undefined || !sameValue(spec, value, before);
  });
  return xml('x', { ...form.attrs }, ...form.getChildElements().filter((c) => c.name !== 'field'), ...kept);
}

/**
 * The bad-request for a submitted form of another FORM_TYPE than the step's (issue 13: a bogus FORM_TYPE was
 * applied). The control form of "Set parameter" is XEP-0325's; argument forms are the command's node.
 */
function formTypeError(form: Element | undefined, expected: string): Element | undefined {
  const problem = form && formTypeProblem(form, expected);
  return problem ? commandsError('bad-request', 'bad-payload', problem) : undefined;
}

export function createAdhocService(deps: {
  transport: Transport;
  commands: CommandDeps;
  log: Logger;
  limiter?: RequestLimiter;
}) {
  const { transport, commands, log, limiter } = deps;
  const sessions = new Map<string, Session>();
  /** Per device, the values last set through the control form (pre-fill of parameters without a field). */
  const lastSet = new Map<string, Record<string, string>>();
  const offered = COMMANDS.filter((c) => c.name !== 'help');

  const reply = (node: string, sessionid: string, status: string, ...children: Element[]) =>
    xml('command', { xmlns: NS_COMMANDS, node, sessionid, status }, ...children);
  const note = (type: 'info' | 'warn' | 'error', text: string) => xml('note', { type }, text);
  const actions = (execute: 'complete' | 'next', ...names: string[]) =>
    xml('actions', { execute }, ...names.map((n) => xml(n)));

  function argumentForm(c: CommandDef): Element {
    const devices = [...commands.devices.keys()];
    return xml(
      'x',
      { xmlns: NS.dataForms, type: 'form' },
      xml('title', {}, c.title),
      ...c.args.map((a) =>
        a.name === 'device'
          ? field('device', 'list-single', a.description, [
              ...(devices.length === 1 ? [xml('value', {}, devices[0] as string)] : []),
              ...devices.map((d) => xml('option', { label: d }, xml('value', {}, d))),
            ])
          : field(a.name, 'text-single', a.description),
      ),
    );
  }

  async function finish(s: Session, args: Record<string, string>): Promise<Element> {
    sessions.delete(s.id);
    const result = await s.command.run(commands, s.from, args);
    return reply(
      NODE_PREFIX + s.command.name,
      s.id,
      'completed',
      note(result.ok ? 'info' : 'error', result.text),
    );
  }

  async function onCommand(stanza: Element, command: Element): Promise<Element> {
    const from = stanza.attrs.from as string;
    const node = command.attrs.node as string | undefined;
    const def = offered.find((c) => NODE_PREFIX + c.name === node);
    if (!def)
      return commandsError('item-not-found', 'malformed-action', `unknown command ${quote(node ?? '')}`);
    if (!commands.access.isOwner(from)) return stanzaError('forbidden', 'only owners may run commands');
    if (limiter && !limiter.take(from)) return limitError('requestRate', limiter.rate, 'too many requests');
    const action = (command.attrs.action as string | undefined) ?? 'execute';
    const sessionid = command.attrs.sessionid as string | undefined;
    const now = Date.now();
    for (const [id, s] of sessions) if (s.expires < now) sessions.delete(id);

    if (!sessionid) {
      if (action !== 'execute')
        return commandsError('bad-request', 'malformed-action', `cannot ${quote(action)} before execute`);
      let open = 0;
      for (const other of sessions.values()) if (other.from === from) open++;
      if (open >= SESSIONS_PER_REQUESTER)
        return stanzaError(
          'resource-constraint',
          `more than ${SESSIONS_PER_REQUESTER} open command sessions`,
        );
      const s: Session = { id: randomUUID(), from, command: def, expires: now + SESSION_TTL_MS };
      if (def.args.length === 0) return finish(s, {});
      sessions.set(s.id, s);
      if (def.name === 'set') {
        const controllable = [...commands.devices.values()].filter((d) => d.controlSpecs.length);
        if (controllable.length === 0) return finish(s, {});
        if (controllable.length === 1) return setForm(s, controllable[0]?.id as string);
        return reply(
          node as string,
          s.id,
          'executing',
          actions('next', 'next'),
          deviceChoice(controllable.map((d) => d.id)),
        );
      }
      return reply(node as string, s.id, 'executing', actions('complete', 'complete'), argumentForm(def));
    }

    const s = sessions.get(sessionid);
    if (!s || s.from !== from || s.command !== def) {
      return commandsError('bad-request', 'bad-sessionid', 'unknown or expired session');
    }
    if (action === 'cancel') {
      sessions.delete(s.id);
      return reply(node as string, s.id, 'canceled');
    }
    const form = command.getChild('x', NS.dataForms);
    const wrongForm = formTypeError(
      form,
      def.name === 'set' && s.device ? NS.control : NODE_PREFIX + def.name,
    );
    if (wrongForm) return wrongForm;
    const submitted = valuesOf(form);
    if (def.name === 'set') {
      if (!s.device) {
        if (!submitted.device) return commandsError('bad-request', 'bad-payload', 'choose a device');
        return setForm(s, submitted.device);
      }
      return applySetForm(s, form);
    }
    return finish(s, submitted);
  }

  function deviceChoice(ids: string[]): Element {
    return xml(
      'x',
      { xmlns: NS.dataForms, type: 'form' },
      xml('title', {}, 'Set parameter'),
      field(
        'device',
        'list-single',
        'Device',
        ids.map((d) => xml('option', { label: d }, xml('value', {}, d))),
      ),
    );
  }

  async function setForm(s: Session, deviceId: string): Promise<Element> {
    const d = commands.devices.get(deviceId);
    if (!d?.controlSpecs.length) {
      sessions.delete(s.id);
      return reply(
        NODE_PREFIX + s.command.name,
        s.id,
        'completed',
        note('error', `${quote(deviceId)} has no parameters.`),
      );
    }
    s.device = deviceId;
    const current = await d.readNow().catch(() => undefined);
    s.offered = currentValues(d.controlSpecs, current, lastSet.get(deviceId));
    const form = controlForm(d.controlSpecs, (spec) => s.offered?.[spec.name]);
    labelRanges(form, d.controlSpecs, current);
    form.getChild('title')?.children.splice(0, 1, `Set parameters of ${deviceId}`);
    return reply(NODE_PREFIX + s.command.name, s.id, 'executing', actions('complete', 'complete'), form);
  }

  async function applySetForm(s: Session, form: Element | undefined): Promise<Element> {
    sessions.delete(s.id);
    const node = NODE_PREFIX + s.command.name;
    if (!form) return reply(node, s.id, 'completed', note('warn', 'Nothing submitted; nothing changed.'));
    const specs = commands.devices.get(s.device as string)?.controlSpecs ?? [];
    const changes = changedFields(form, specs, s.offered ?? {});
    const names = Object.keys(valuesOf(changes));
    if (names.length === 0) return reply(node, s.id, 'completed', note('info', 'Nothing changed.'));
    try {
      await commands.control.execute(
        s.from,
        xml('set', { xmlns: NS.control }, xml('node', { nodeId: s.device as string }), changes),
      );
      lastSet.set(s.device as string, { ...lastSet.get(s.device as string), ...valuesOf(changes) });
      return reply(
        node,
        s.id,
        'completed',
        note('info', `${s.device}: set ${names.join(', ') || 'nothing'}`),
      );
    } catch (err) {
      return reply(node, s.id, 'completed', note('error', `Not set: ${errorMessage(err)}`));
    }
  }

  return {
    register() {
      transport.handleIq('set', NS_COMMANDS, 'command', (stanza, command) =>
        onCommand(stanza, command).catch((err) => {
          log.warn({ err: errorMessage(err) }, 'ad-hoc command failed');
          return stanzaError('internal-server-error', errorMessage(err));
        }),
      );
    },
    /** disco#items for node http://jabber.org/protocol/commands: the commands, to owners only. */
    list: async (from: string) =>
      commands.access.isOwner(from)
        ? offered.map((c) => ({ node: NODE_PREFIX + c.name, name: c.title }))
        : [],
  };
}
