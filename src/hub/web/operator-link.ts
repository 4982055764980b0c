/**
 * The operator's own XMPP session, opened at dashboard login: logging in with the JID and password is how the
 * XMPP server verifies them (the hub never checks a password itself, never stores one), and the same session
 * then carries the operator's controls. A XEP-0325 set or getForm from the owner's JID passes the agent's owner
 * check as any of the owner's clients would. Closed on logout or when the dashboard session expires.
 *
 * It sends available presence with priority -1 (RFC 6121 §4.7.2.3): the server then delivers the contacts'
 * presences (which things are online, at which full JID) and no chat message addressed to the bare JID is
 * routed here instead of the operator's own client.
 */
import { randomBytes } from 'node:crypto';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage, IotError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { createControlClient } from '../../iot/control-client.js';
import { bareOf } from '../../xmpp/jid.js';
import { createTransport, type TlsPolicy, type Transport } from '../../xmpp/transport.js';

export interface OperatorLink {
  /** The operator's bare JID. */
  readonly operator: string;
  readonly transport: Transport;
  readonly control: ReturnType<typeof createControlClient>;
  /** The full JIDs a contact is available at (from its presence), most recent first. */
  resources(jid: string): string[];
  /** Called when a contact becomes available or unavailable. */
  onPresence(listener: (jid: string, available: boolean) => void): () => void;
  close(): Promise<void>;
}

/** A wrong JID or password (the server refused the login): the page says so, nothing else. */
export class LoginRefusedError extends IotError {
  constructor() {
    super('IOT_ERR_XMPP', 'wrong JID or password');
  }
}

export interface LoginOptions {
  service: string;
  tls?: TlsPolicy;
  jid: string;
  password: string;
  timeoutMs: number;
  log: Logger;
}

/** Most contacts' presences one session keeps (bounded memory against a roster flood). */
const MAX_CONTACTS = 20_000;

const JID_SHAPE = /^[^@/\s]{1,1023}@[^@/\s]{1,1023}$/;

export function isBareJid(s: string): boolean {
  return JID_SHAPE.test(s) && s.length <= 2047;
}

export async function loginOperator(options: LoginOptions): Promise<OperatorLink> {
  const jid = options.jid.trim();
  if (!isBareJid(jid)) throw new LoginRefusedError();
  const [username, domain] = jid.split('@') as [string, string];
  const transport = createTransport(
    {
      service: options.service,
      domain,
      username,
      password: options.password,
      // A random resource per dashboard session: two browser logins of one operator do not conflict.
      resource: `dashboard-${randomBytes(4).toString('hex')}`,
      timeoutMs: options.timeoutMs,
      ...(options.tls ? { tls: options.tls } : {}),
    },
    options.log,
  );
  const available = new Map<string, string[]>();
  const listeners = new Set<(jid: string, available: boolean) => void>();
  transport.on('stanza', (s: Element) => {
    if (!s.is('presence') || typeof s.attrs.from !== 'string') return;
    const type = s.attrs.type as string | undefined;
    if (type !== undefined && type !== 'unavailable') return;
    const from = s.attrs.from;
    const bare = bareOf(from);
    const before = available.get(bare) ?? [];
    const after =
      type === 'unavailable' ? before.filter((f) => f !== from) : [from, ...before.filter((f) => f !== from)];
    if (after.length) {
      if (!available.has(bare) && available.size >= MAX_CONTACTS) return;
      available.set(bare, after.slice(0, 16));
    } else available.delete(bare);
    if ((before.length === 0) !== (after.length === 0)) for (const l of listeners) l(bare, after.length > 0);
  });
  transport.on('online', () => {
    available.clear();
    transport.send(xml('presence', {}, xml('priority', {}, '-1'))).catch(() => undefined);
  });
  transport.on('offline', () => {
    for (const bare of available.keys()) for (const l of listeners) l(bare, false);
    available.clear();
  });

  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      transport.start(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new IotError(
                'IOT_ERR_XMPP_TIMEOUT',
                `cannot reach the XMPP server ${options.service}${transport.lastFailure ? ` (${transport.lastFailure})` : ''}`,
              ),
            ),
          options.timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    await transport.stop().catch(() => undefined);
    if (/authentication failed/.test(errorMessage(err))) throw new LoginRefusedError();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    operator: bareOf(jid),
    transport,
    control: createControlClient(transport),
    resources: (j) => available.get(bareOf(j)) ?? [],
    onPresence(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: () => transport.stop(),
  };
}
