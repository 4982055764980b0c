/**
 * The hub's composition root: the one place that wires its store, its XMPP link and its roles, in order;
 * shutdown runs in reverse. Its roles: the XEP-0347 thing registry and the XEP-0324 provisioning server (owners'
 * rules, asking the owner), on the same transport and store and advertised in the same disco#info, with the
 * owners' ad-hoc commands. The EXI gateway (src/hub/exi-gateway.ts) runs on its own for now.
 * The link is an XEP-0114 component or a plain account (the agent's client transport, plus the presence an
 * account needs to be reachable: src/hub/account-presence.ts); the roles do not see the difference.
 */
import { type HubConfig, hubJid } from '../config/hub-config.js';
import type { Logger } from '../core/logger.js';
import { NS_DISCOVERY, parseClaimCode } from '../iot/discovery.js';
import { NS_PROVISIONING } from '../iot/provisioning.js';
import { CAPS_NODE, VERSION } from '../version.js';
import { createCommandServer, NS_COMMANDS } from '../xmpp/adhoc.js';
import { createComponentTransport } from '../xmpp/component.js';
import { createDisco } from '../xmpp/disco.js';
import { createTransport, type Transport } from '../xmpp/transport.js';
import { createAccountPresence } from './account-presence.js';
import { hubCommands } from './hub-commands.js';
import { createProvisioningServer, OwnerRequestError } from './provisioning-server.js';
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
  const registry = createRegistry({
    transport,
    store,
    log: log.child({ module: 'registry' }),
    options: { claimAttemptsPerMinute: config.registry.claimAttemptsPerMinute },
  });
  registry.register();
  const provisioning = createProvisioningServer({
    transport,
    store,
    log: log.child({ module: 'provisioning' }),
    options: {
      askTimeoutMs: config.provisioning?.askTimeoutMs ?? 5000,
      pendingTtlMs: config.provisioning?.pendingForMs ?? 86_400_000,
      maxPendingPerOwner: config.provisioning?.maxPendingPerOwner ?? 50,
    },
  });
  provisioning.register();
  const commands = createCommandServer({
    transport,
    log: log.child({ module: 'commands' }),
    commands: hubCommands({
      provisioning,
      async claim(claimant, code, isPublic) {
        const thing = await registry.claim(claimant, parseClaimCode(code).tags, isPublic);
        if (thing === 'throttled') throw new OwnerRequestError('too many claim attempts: wait a minute');
        if (!thing) throw new OwnerRequestError('no unclaimed thing has this claim code', 'item-not-found');
        return thing;
      },
    }),
  });
  commands.register();
  const disco = createDisco(transport, {
    identity: account
      ? { category: 'client', type: 'bot', name: 'xmpp-iot hub' }
      : { category: 'component', type: 'generic', name: 'xmpp-iot hub' },
    features: [NS_DISCOVERY, NS_PROVISIONING, NS_COMMANDS],
    capsNode: `${CAPS_NODE}#hub`,
    nodeItems: { [NS_COMMANDS]: async () => commands.list() },
  });
  const presence = account ? createAccountPresence({ transport, caps: disco.caps, log: xmppLog }) : undefined;
  presence?.start();
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
      provisioning.stop();
      await transport.stop();
      store.close();
      log.info({}, 'hub stopped');
    },
  };
}
