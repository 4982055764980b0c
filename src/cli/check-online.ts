/**
 * `xiot check --online`: logs in with the config's account and reports what the agent will rely on: the login
 * itself, transport security, PEP on the account's server (XEP-0163), and whether each owner is subscribed to the
 * agent's presence (without it, PEP readings do not reach them). Sends no available presence and publishes
 * nothing: a running agent on the same account is not disturbed beyond one extra session.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import type { AgentConfig } from '../config/agent-config.js';
import { errorMessage } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { type ConnectionInfo, createTransport } from '../xmpp/transport.js';

export interface OnlineReport {
  ok: boolean;
  lines: string[];
}

const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';

/** How `transport.connection` (issue 18: what was really used, not what the URI suggests) is printed. */
const TRANSPORT_NAMES: Record<ConnectionInfo['transport'], string> = {
  tcp: 'TCP (xmpp://), no STARTTLS',
  starttls: 'TCP with STARTTLS (xmpp://)',
  'direct-tls': 'direct TLS (xmpps://)',
  websocket: 'WebSocket (ws://), no TLS',
  'websocket-tls': 'WebSocket over TLS (wss://)',
  exi: "EXI through the hub's gateway (exi://), no TLS",
};
const NS_ROSTER = 'jabber:iq:roster';

export async function checkOnline(config: AgentConfig, timeoutMs = 15_000): Promise<OnlineReport> {
  const lines: string[] = [];
  const transport = createTransport(
    { ...config.xmpp, resource: `check-${process.pid}`, reconnect: { minMs: 1000, maxMs: 2000 } },
    silentLogger(),
  );
  const jid = `${config.xmpp.username}@${config.xmpp.domain}`;
  try {
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    await Promise.race([
      transport.start(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `no session with ${config.xmpp.service} within ${timeoutMs / 1000} s (` +
                  `${transport.lastFailure ?? 'server down or unreachable?'})`,
              ),
            ),
          timeoutMs,
        );
        // A failed attempt has its reason (certificate, TLS policy, WebSocket path…): a check need not retry.
        poll = setInterval(() => {
          if (transport.lastFailure !== undefined) reject(new Error(transport.lastFailure));
        }, 50);
      }),
    ]).finally(() => {
      clearTimeout(timer);
      clearInterval(poll);
    });
  } catch (err) {
    await transport.stop().catch(() => undefined);
    return { ok: false, lines: [`login     FAILED: ${errorMessage(err)}`] };
  }
  try {
    lines.push(`login     ok: ${jid} logged in (${transport.jid})`);
    const info = transport.connection;
    if (info) {
      lines.push(`transport ${TRANSPORT_NAMES[info.transport]}: ${info.service}`);
      lines.push(
        info.tlsVersion
          ? `security  ${info.tlsVersion}, certificate verified`
          : `security  NOT encrypted (allowed by xmpp.tls: ${config.xmpp.tls})`,
      );
    }
    let ok = true;
    if (config.publish.service === 'pep') {
      try {
        const info = await transport.request(
          xml('iq', { type: 'get', to: jid }, xml('query', { xmlns: NS_DISCO_INFO })),
        );
        const pep = info
          .getChild('query')
          ?.getChildren('identity')
          .some((i: Element) => i.attrs.category === 'pubsub' && i.attrs.type === 'pep');
        lines.push(
          pep
            ? 'pep       ok: the account has a PEP service'
            : 'pep       MISSING: the server offers no PEP (XEP-0163) for this account: publish to a pubsub service instead (publish.service)',
        );
        ok &&= pep === true;
      } catch (err) {
        lines.push(`pep       unknown: disco#info failed (${errorMessage(err)})`);
      }
    } else lines.push(`pep       not used (publishing to ${config.publish.service})`);
    try {
      const roster = await transport.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
      const items = new Map(
        (roster.getChild('query')?.getChildren('item') ?? []).map((i: Element) => [
          String(i.attrs.jid).toLowerCase(),
          String(i.attrs.subscription ?? 'none'),
        ]),
      );
      if (config.owners.length === 0) lines.push('owners    none: nobody can use this agent');
      for (const owner of config.owners) {
        const sub = items.get(owner) ?? 'none';
        lines.push(
          sub === 'both' || sub === 'from'
            ? `owner     ${owner}: subscribed (${sub})`
            : `owner     ${owner}: NOT subscribed (${sub}): the agent asks at start; ${owner} must accept it to receive readings`,
        );
      }
    } catch (err) {
      lines.push(`owners    unknown: roster request failed (${errorMessage(err)})`);
    }
    return { ok, lines };
  } finally {
    await transport.stop();
  }
}
