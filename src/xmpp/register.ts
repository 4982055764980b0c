/**
 * XEP-0077 in-band registration of the agent's own account (`xiot init --register`),
 * https://xmpp.org/extensions/xep-0077.html §3.1. The registration IQ is sent on the not yet authenticated
 * stream from inside @xmpp/client's credentials callback (after STARTTLS, before SASL), then the same
 * connection logs in with the new credentials: success means the account works, not only that it was created.
 */
import { client, xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { IotError } from '../core/errors.js';

const NS_REGISTER = 'jabber:iq:register';

export interface RegisterOptions {
  service: string;
  domain: string;
  username: string;
  password: string;
  timeoutMs?: number;
}

export type RegisterFailure = 'not-allowed' | 'conflict' | 'not-acceptable' | 'unreachable' | 'other';

export class RegistrationError extends IotError {
  readonly reason: RegisterFailure;
  constructor(reason: RegisterFailure, message: string) {
    super('IOT_ERR_XMPP', message);
    this.reason = reason;
  }
}

function failure(condition: string | undefined, text: string | undefined, o: RegisterOptions) {
  const jid = `${o.username}@${o.domain}`;
  const detail = text ? ` (server says: ${text})` : '';
  switch (condition) {
    case 'conflict':
      return new RegistrationError(
        'conflict',
        `${jid} already exists${detail}: pick another username or drop --register and give its password`,
      );
    case 'not-acceptable':
    case 'bad-request':
      return new RegistrationError(
        'not-acceptable',
        `the server refused username or password for ${jid}${detail}`,
      );
    case 'not-allowed':
    case 'forbidden':
    case 'service-unavailable':
    case 'feature-not-implemented':
      return new RegistrationError(
        'not-allowed',
        `${o.domain} does not allow in-band registration (XEP-0077, ${condition})${detail}: create ${jid} with the ` +
          `server's admin tool (Prosody: prosodyctl adduser ${jid}; ejabberd: ejabberdctl register ${o.username} ${o.domain} PASSWORD) ` +
          'and run xiot init again without --register',
      );
    default:
      return new RegistrationError(
        'other',
        `registering ${jid} failed: ${condition ?? 'unknown error'}${detail}`,
      );
  }
}

/** Creates the account and logs in with it once; throws RegistrationError with a reason users can act on. */
export async function registerAccount(o: RegisterOptions): Promise<void> {
  if (o.service.startsWith('exi://'))
    throw new RegistrationError('other', 'register over xmpp:// or xmpps://, not through the EXI gateway');
  const timeoutMs = o.timeoutMs ?? 10_000;
  // The credentials callback gets `authenticate`; we register first on the same stream.
  const credentials = async (
    authenticate: (c: { username: string; password: string }, mechanism: string) => Promise<void>,
    mechanisms: string[],
  ) => {
    const reply: Element = await new Promise((resolve, reject) => {
      const id = `reg-${Math.random().toString(36).slice(2)}`;
      const timer = setTimeout(() => reject(failure('remote-server-timeout', undefined, o)), timeoutMs);
      const onElement = (el: Element) => {
        if (el.is('iq') && el.attrs.id === id) {
          clearTimeout(timer);
          xmpp.removeListener('element', onElement);
          resolve(el);
        }
      };
      xmpp.on('element', onElement);
      xmpp
        .send(
          xml(
            'iq',
            { type: 'set', id },
            xml(
              'query',
              { xmlns: NS_REGISTER },
              xml('username', {}, o.username),
              xml('password', {}, o.password),
            ),
          ),
        )
        .catch(reject);
    });
    if (reply.attrs.type !== 'result') {
      const error = reply.getChild('error');
      const condition = error?.children.find(
        (c) => typeof c !== 'string' && (c as Element).name !== 'text',
      ) as Element | undefined;
      const text = error?.getChildText('text') ?? undefined;
      throw failure(condition?.name, text, o);
    }
    const mechanism = mechanisms.find((m) => m.startsWith('SCRAM')) ?? mechanisms[0] ?? 'PLAIN';
    await authenticate({ username: o.username, password: o.password }, mechanism);
  };
  const xmpp = client({
    service: o.service,
    domain: o.domain,
    timeout: timeoutMs,
    credentials,
  } as unknown as Parameters<typeof client>[0]);
  xmpp.reconnect.stop();
  let failed: Error | undefined;
  xmpp.on('error', (err: Error) => (failed ??= err));
  try {
    await xmpp.start();
  } catch (err) {
    if (err instanceof RegistrationError) throw err;
    const e = failed ?? (err as Error);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT')
      throw new RegistrationError('unreachable', `cannot reach ${o.service}: ${code}`);
    throw new RegistrationError('other', `registering ${o.username}@${o.domain} failed: ${e.message}`);
  } finally {
    await xmpp.stop().catch(() => {});
  }
}
