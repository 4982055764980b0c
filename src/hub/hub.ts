/**
 * The hub's composition root: the one place that wires its store, its XMPP link and its roles, in order;
 * shutdown runs in reverse. Its roles: the XEP-0347 thing registry and the XEP-0324 provisioning server (owners'
 * rules, asking the owner), on the same transport and store and advertised in the same disco#info, with the
 * owners' ad-hoc commands. The EXI gateway (src/hub/exi-gateway.ts) runs on its own for now.
 * The link is an XEP-0114 component or a plain account (the agent's client transport, plus the presence an
 * account needs to be reachable: src/hub/account-presence.ts); the roles do not see the difference.
 */
import { dirname, join } from 'node:path';
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
import { createThingAccess } from './access.js';
import type { HistoryStore } from './history.js';
import { openHistoryStore } from './history-store.js';
import { createRegistry } from './registry.js';
import { type HubStore, openSqliteHubStore } from './store.js';
import type { IngestStatsSource } from './web/metrics.js';
import { createWebServer, type WebServer } from './web/server.js';

export interface Hub {
  readonly transport: Transport;
  readonly store: HubStore;
  /** The dashboard and HTTP API, when the config has `http`. */
  readonly web?: WebServer;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createHub(
  config: HubConfig,
  deps: {
    log: Logger;
    store?: HubStore;
    transport?: Transport;
    /** The fleet history (default: opened from `config.history` when something needs it). */
    history?: HistoryStore;
    ingest?: IngestStatsSource;
  },
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
  let web: WebServer | undefined;
  let history = deps.history;
  let ownHistory = false;
  /** The dashboard, with the fleet history it reads (opened here unless the caller gave one). */
  const startWeb = async (http: NonNullable<HubConfig['http']>) => {
    if (!history) {
      // As parseHubConfig defaults it: history.db beside the hub's store.
      const spec =
        config.history?.store ??
        (config.store === ':memory:' ? ':memory:' : join(dirname(config.store), 'history.db'));
      history = await openHistoryStore(spec, {
        ...(config.history ? { retention: config.history.retention } : {}),
        log: log.child({ module: 'history' }),
      });
      ownHistory = true;
    }
    web = createWebServer({
      config: http,
      access: createThingAccess(store),
      history,
      log: log.child({ module: 'web' }),
      ...(deps.ingest ? { ingest: deps.ingest } : {}),
    });
    await web.start();
  };
  let stopped = false;
  return {
    transport,
    store,
    get web() {
      return web;
    },
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
      if (config.http) await startWeb(config.http);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await web?.stop();
      if (ownHistory) await history?.close();
      presence?.stop();
      provisioning.stop();
      await transport.stop();
      store.close();
      log.info({}, 'hub stopped');
    },
  };
}
