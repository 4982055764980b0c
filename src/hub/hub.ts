/**
 * The hub's composition root: the one place that wires its store, its XMPP link and its roles, in order;
 * shutdown runs in reverse. Today one role, the XEP-0347 thing registry; the XEP-0324 provisioning server
 * (rules, asking the owner) is wired here next, on the same transport and store, and advertised in the same
 * disco#info. The EXI gateway (src/hub/exi-gateway.ts) runs on its own for now.
 * The link is an XEP-0114 component or a plain account (the agent's client transport, plus the presence an
 * account needs to be reachable: src/hub/account-presence.ts); the roles do not see the difference.
 */
import { type HubConfig, hubJid } from '../config/hub-config.js';
import type { Logger } from '../core/logger.js';
import { NS_DISCOVERY } from '../iot/discovery.js';
import { CAPS_NODE, VERSION } from '../version.js';
import { createComponentTransport } from '../xmpp/component.js';
import { createDisco } from '../xmpp/disco.js';
import { createTransport, type Transport } from '../xmpp/transport.js';
import { createAccountPresence } from './account-presence.js';
import { createRegistry } from './registry.js';
import { type HubStore, openSqliteHubStore } from './store.js';

export interface Hub {
  readonly transport: Transport;
  readonly store: HubStore;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createHub(
  config: HubConfig,
  deps: { log: Logger; store?: HubStore; transport?: Transport },
): Hub {
  const { log } = deps;
  const store = deps.store ?? openSqliteHubStore(config.store);
  const { account } = config.xmpp;
  const xmppLog = log.child({ module: 'xmpp' });
  const transport =
    deps.transport ??
    (account ? createTransport(account, xmppLog) : createComponentTransport(config.xmpp.component, xmppLog));
  const disco = createDisco(transport, {
    identity: account
      ? { category: 'client', type: 'bot', name: 'xmpp-iot thing registry' }
      : { category: 'component', type: 'generic', name: 'xmpp-iot thing registry' },
    features: [NS_DISCOVERY],
    capsNode: `${CAPS_NODE}#hub`,
  });
  const presence = account ? createAccountPresence({ transport, caps: disco.caps, log: xmppLog }) : undefined;
  presence?.start();
  const registry = createRegistry({
    transport,
    store,
    log: log.child({ module: 'registry' }),
    options: { claimAttemptsPerMinute: config.registry.claimAttemptsPerMinute },
  });
  registry.register();
  let stopped = false;
  return {
    transport,
    store,
    async start() {
      log.info(
        {
          jid: hubJid(config),
          mode: account ? 'account' : 'component',
          store: config.store,
          version: VERSION,
        },
        'starting hub',
      );
      await transport.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      presence?.stop();
      await transport.stop();
      store.close();
      log.info({}, 'hub stopped');
    },
  };
}
