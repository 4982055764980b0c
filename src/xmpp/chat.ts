/**
 * Chat commands for clients without ad-hoc support: an owner types `read host load1` or `set relay state on`
 * and gets the answer as a chat message. Same command table as ad-hoc and the CLI (src/runtime/commands.ts).
 * Strangers get a polite refusal and change nothing; unknown input gets the help text.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type CommandDeps, helpText, parseCommandText } from '../runtime/commands.js';
import { bareOf } from './access.js';
import { NS } from './ns.js';
import type { Transport } from './transport.js';

export const REFUSAL = 'Sorry, I only take commands from my owners.';

export function createChatService(deps: { transport: Transport; commands: CommandDeps; log: Logger }) {
  const { transport, commands, log } = deps;

  async function onStanza(stanza: Element): Promise<void> {
    if (!stanza.is('message')) return;
    const type = (stanza.attrs.type as string | undefined) ?? 'normal';
    if (type !== 'chat' && type !== 'normal') return;
    // A XEP-0325 set (possibly with a body fallback) is the control service's, not a chat command.
    if (stanza.getChild('set', NS.control)) return;
    const body = stanza.getChildText('body');
    const from = stanza.attrs.from as string | undefined;
    if (!body || !from || bareOf(from) === transport.bareJid) return;
    const reply = (text: string) =>
      transport.send(xml('message', { to: from, type: 'chat' }, xml('body', {}, text), ...threadOf(stanza)));
    if (!commands.access.isOwner(from)) {
      log.info({ from }, 'refused a chat command from a non-owner');
      await reply(REFUSAL);
      return;
    }
    const parsed = parseCommandText(body);
    if (!parsed) {
      await reply(`I did not understand "${body.trim().slice(0, 60)}".\n${helpText()}`);
      return;
    }
    const result = await parsed.command.run(commands, from, parsed.args);
    await reply(result.text);
  }

  // One command at a time per sender, so replies come back in the order the lines were typed.
  const queues = new Map<string, Promise<void>>();
  const listener = (s: Element) => {
    const key = (s.attrs.from as string | undefined) ?? '';
    const next = (queues.get(key) ?? Promise.resolve())
      .then(() => onStanza(s))
      .catch((err) => log.warn({ err: errorMessage(err) }, 'chat command failed'));
    queues.set(key, next);
    void next.then(() => {
      if (queues.get(key) === next) queues.delete(key);
    });
  };
  transport.on('stanza', listener);
  return { stop: () => transport.off('stanza', listener) };
}

function threadOf(stanza: Element): Element[] {
  const thread = stanza.getChild('thread');
  return thread ? [xml('thread', {}, thread.text())] : [];
}
