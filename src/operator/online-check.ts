/**
 * `xiot check --online` (issue 18): logs in with the config's account, says how (transport, TLS version) and
 * whether the server offers PEP (XEP-0163: the account's bare JID has a `pubsub`/`pep` identity), then leaves.
 * No presence is sent and no resource is asked for, so a running agent with the same account is not disturbed.
 */
import { xml } from '@xmpp/client';
import type { AgentConfig } from '../config/agent-config.js';
import { errorMessage } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { parseDiscoInfo } from '../xmpp/disco.js';
import { NS } from '../xmpp/ns.js';
import { createTransport } from '../xmpp/transport.js';

const TRANSPORT_NAMES = {
  tcp: 'TCP, no TLS',
  starttls: 'TCP with STARTTLS',
  'direct-tls': 'direct TLS',
  websocket: 'WebSocket, no TLS',
  'websocket-tls': 'WebSocket over TLS',
  exi: 'EXI (XEP-0322)',
} as const;

/**
 * Exit code 0 once logged in (whatever PEP says); 1 at the first failed attempt (with its reason: a check
 * has no reason to retry) or when no session came within `waitMs`.
 */
export async function runOnlineCheck(
  xmppConfig: AgentConfig['xmpp'],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  waitMs = Math.max(30_000, 3 * xmppConfig.timeoutMs),
): Promise<number> {
  const { resource: _ignored, ...options } = xmppConfig;
  const transport = createTransport(options, silentLogger());
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout' | 'failed'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), waitMs);
    poll = setInterval(() => {
      if (transport.lastFailure !== undefined) resolve('failed');
    }, 50);
  });
  try {
    const outcome = await Promise.race([transport.start().then(() => 'online' as const), gaveUp]);
    const info = transport.connection;
    if (outcome === 'failed') {
      io.stderr.write(`online: cannot log in with ${xmppConfig.service}: ${transport.lastFailure}\n`);
      return 1;
    }
    if (outcome === 'timeout' || !info) {
      io.stderr.write(
        `online: no session with ${xmppConfig.service} within ${Math.round(waitMs / 1000)} s: ` +
          `${transport.lastFailure ?? 'no answer'}\n`,
      );
      return 1;
    }
    io.stdout.write(
      [
        `online: logged in as ${transport.jid}`,
        `transport: ${TRANSPORT_NAMES[info.transport]} (${info.service})`,
        `TLS: ${info.tlsVersion ?? (info.encrypted ? 'yes' : 'none: the stream is not encrypted')}`,
        `PEP: ${await pepSupport(transport)}`,
        '',
      ].join('\n'),
    );
    return 0;
  } catch (err) {
    io.stderr.write(`online: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
    await transport.stop();
  }
}

async function pepSupport(transport: ReturnType<typeof createTransport>): Promise<string> {
  try {
    const reply = await transport.request(
      xml('iq', { type: 'get', to: transport.bareJid }, xml('query', { xmlns: NS.discoInfo })),
    );
    const query = reply.getChild('query', NS.discoInfo);
    const { identities } = query ? parseDiscoInfo(query) : { identities: [] };
    return identities.some((i) => i.category === 'pubsub' && i.type === 'pep')
      ? 'supported'
      : `not advertised by the server (no pubsub/pep identity on ${transport.bareJid}): ` +
          'publish to a pubsub service instead (publish.service)';
  } catch (err) {
    return `unknown (disco#info of ${transport.bareJid} failed: ${errorMessage(err)})`;
  }
}
