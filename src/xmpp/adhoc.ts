/**
 * XEP-0050 ad-hoc commands, the generic part: the namespace, its errors, and a server for commands that take at
 * most one form (execute → form → complete, or execute → completed). The agent's commands (src/agent/adhoc.ts)
 * have their own multi-step flow on the same vocabulary; the hub's (src/hub/hub-commands.ts) use this server.
 * https://xmpp.org/extensions/xep-0050.html
 */
import { randomUUID } from 'node:crypto';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { formTypeProblem } from './forms.js';
import { NS } from './ns.js';
import { quote, stanzaError } from './stanza-errors.js';
import type { Transport } from './transport.js';

export const NS_COMMANDS = 'http://jabber.org/protocol/commands';

/** A XEP-0050 error: the stanza condition plus the commands-specific one (`bad-sessionid`, `bad-payload`, …). */
export function commandsError(
  condition: 'bad-request' | 'forbidden' | 'item-not-found',
  specific: string,
  text: string,
): Element {
  const error = stanzaError(condition, text);
  error.append(xml(specific, { xmlns: NS_COMMANDS }));
  return error;
}

/** The submitted values of a form: var → values (FORM_TYPE left out). */
export function formValues(form: Element | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of form?.getChildren('field') ?? []) {
    const name = f.attrs.var as string | undefined;
    if (!name || name === 'FORM_TYPE') continue;
    out[name] = f.getChildren('value').map((v) => v.text());
  }
  return out;
}

export interface CommandOutcome {
  text: string;
  ok: boolean;
}

export interface OneStepCommand {
  node: string;
  name: string;
  /** The form to fill in, or undefined to run at once (a listing). */
  form?(from: string): Element | undefined;
  run(from: string, values: Record<string, string[]>): CommandOutcome | Promise<CommandOutcome>;
}

const SESSION_TTL_MS = 10 * 60_000;
const SESSIONS_PER_REQUESTER = 16;
const SESSIONS_IN_ALL = 10_000;

export function createCommandServer(deps: {
  transport: Transport;
  log: Logger;
  commands: readonly OneStepCommand[];
  /** May `from` run commands at all (rate limits)? Returns an error element to refuse. */
  admit?(from: string): Element | undefined;
}) {
  const { transport, log, commands } = deps;
  const sessions = new Map<string, { from: string; node: string; expires: number }>();

  const reply = (node: string, sessionid: string, status: string, ...children: Element[]) =>
    xml('command', { xmlns: NS_COMMANDS, node, sessionid, status }, ...children);
  const done = (node: string, id: string, out: CommandOutcome) =>
    reply(node, id, 'completed', xml('note', { type: out.ok ? 'info' : 'error' }, out.text));

  async function onCommand(stanza: Element, command: Element): Promise<Element> {
    const from = stanza.attrs.from as string;
    const node = command.attrs.node as string | undefined;
    const def = commands.find((c) => c.node === node);
    if (!def)
      return commandsError('item-not-found', 'malformed-action', `unknown command ${quote(node ?? '')}`);
    const refused = deps.admit?.(from);
    if (refused) return refused;
    const action = (command.attrs.action as string | undefined) ?? 'execute';
    const sessionid = command.attrs.sessionid as string | undefined;
    const now = Date.now();
    for (const [id, s] of sessions) if (s.expires < now) sessions.delete(id);

    if (!sessionid) {
      if (action !== 'execute')
        return commandsError('bad-request', 'malformed-action', `cannot ${quote(action)} before execute`);
      const id = randomUUID();
      const form = def.form?.(from);
      if (!form) return done(def.node, id, await def.run(from, {}));
      let open = 0;
      for (const s of sessions.values()) if (s.from === from) open++;
      if (open >= SESSIONS_PER_REQUESTER || sessions.size >= SESSIONS_IN_ALL)
        return stanzaError('resource-constraint', 'too many open command sessions: finish or cancel some');
      sessions.set(id, { from, node: def.node, expires: now + SESSION_TTL_MS });
      return reply(def.node, id, 'executing', xml('actions', { execute: 'complete' }, xml('complete')), form);
    }
    const s = sessions.get(sessionid);
    if (!s || s.from !== from || s.node !== def.node)
      return commandsError('bad-request', 'bad-sessionid', 'unknown or expired session');
    sessions.delete(sessionid);
    if (action === 'cancel') return reply(def.node, sessionid, 'canceled');
    const form = command.getChild('x', NS.dataForms);
    const problem = form && formTypeProblem(form, def.node);
    if (problem) return commandsError('bad-request', 'bad-payload', problem);
    return done(def.node, sessionid, await def.run(from, formValues(form)));
  }

  return {
    register() {
      transport.handleIq('set', NS_COMMANDS, 'command', (stanza, command) =>
        onCommand(stanza, command).catch((err) => {
          log.warn({ err: errorMessage(err) }, 'ad-hoc command failed');
          return stanzaError('internal-server-error', 'the command failed');
        }),
      );
    },
    /** disco#items of node http://jabber.org/protocol/commands. */
    list: () => commands.map((c) => ({ node: c.node, name: c.name })),
  };
}
