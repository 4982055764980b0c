/**
 * Chat commands for clients without ad-hoc support: an owner types `read host load1` or `set relay state on`
 * and gets the answer as a chat message. Same command table as ad-hoc and the CLI (src/runtime/commands.ts).
 * Strangers get a polite refusal and change nothing; unknown input gets the help text.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type CommandDeps, helpText, parseCommandText } from './commands.js';
import { bareOf } from '../xmpp/jid.js';
import type { RequestLimiter } from './access.js';
import { NS } from '../xmpp/ns.js';
import { limitError, quote } from '../xmpp/stanza-errors.js';
import type { Transport } from '../xmpp/transport.js';

export const REFUSAL = 'Sorry, I only take commands from my owners.';

/** The chat command a message carries: its sender and body, or undefined when it is none. */
function commandOf(stanza: Element, self: string): { from: string; body: string } | undefined {
  if (!stanza.is('message')) return undefined;
  const type = (stanza.attrs.type as string | undefined) ?? 'normal';
  if (type !== 'chat' && type !== 'normal') return undefined;
  // A XEP-0325 set (possibly with a body fallback) is the control service's, not a chat command.
  if (stanza.getChild('set', NS.control)) return undefined;
  const body = stanza.getChildText('body');
  const from = stanza.attrs.from as string | undefined;
  if (!body || !from || bareOf(from) === self) return undefined;
  return { from, body };
}

export function createChatService(deps: {
  transport: Transport;
  commands: CommandDeps;
  log: Logger;
  /** limits.chatBody (characters) and the per-requester rate. */
  limits?: { chatBody: number; limiter?: RequestLimiter };
}) {
  const { transport, commands, log } = deps;
  const maxBody = deps.limits?.chatBody ?? 1024;
  const limiter = deps.limits?.limiter;

  async function onStanza(stanza: Element, from: string, body: string): Promise<void> {
    const reply = (text: string) =>
      transport.send(xml('message', { to: from, type: 'chat' }, xml('body', {}, text), ...threadOf(stanza)));
    if (!commands.access.isOwner(from)) {
      log.info({ from }, 'refused a chat command from a non-owner');
      await reply(REFUSAL);
      return;
    }
    const parsed = parseCommandText(body);
    if (!parsed) {
      await reply(`I did not understand "${quote(body.trim())}".\n${helpText()}`);
      return;
    }
    const result = await parsed.command.run(commands, from, parsed.args);
    await reply(result.text);
  }

  // One command at a time per sender, so replies come back in the order the lines were typed.
  const queues = new Map<string, Promise<void>>();
  const listener = (s: Element) => {
    const command = commandOf(s, transport.bareJid);
    if (!command) return;
    const { from: key, body } = command;
    // Checked before queueing: a flood must not hold its messages in the queue (issue 13).
    const refused =
      limiter && !limiter.take(key)
        ? limitError('requestRate', limiter.rate, 'too many messages')
        : body.length > maxBody
          ? limitError('chatBody', maxBody, 'message too long')
          : undefined;
    if (refused) {
      log.debug({ from: key }, 'chat message over a limit refused');
      void transport
        .send(xml('message', { to: key, type: 'error', ...idOf(s) }, refused))
        .catch((err) => log.debug({ err: errorMessage(err) }, 'could not send a chat error'));
      return;
    }
    const next = (queues.get(key) ?? Promise.resolve())
      .then(() => onStanza(s, key, body))
      .catch((err) => log.warn({ err: errorMessage(err) }, 'chat command failed'));
    queues.set(key, next);
    void next.then(() => {
      if (queues.get(key) === next) queues.delete(key);
    });
  };
  transport.on('stanza', listener);
  return { stop: () => transport.off('stanza', listener) };
}

function idOf(stanza: Element): { id?: string } {
  const id = stanza.attrs.id as string | undefined;
  return id !== undefined && id.length <= 128 ? { id } : {};
}

function threadOf(stanza: Element): Element[] {
  const thread = stanza.getChild('thread');
  // Echoed to keep the conversation together, but never a peer's unbounded text (issue 13).
  const text = thread?.text();
  return text && text.length <= 128 ? [xml('thread', {}, text)] : [];
}
