/**
 * The hub's composition root: the one place that wires its store, its XMPP link and its roles, in order;
 * shutdown runs in reverse. Today one role, the XEP-0347 thing registry; the XEP-0324 provisioning server
 * (rules, asking the owner) is wired here next, on the same transport and store, and advertised in the same
 * disco#info. The EXI gateway (src/hub/exi-gateway.ts) runs on its own for now.
 */
import { dirname, join } from 'node:path';
import type { HubConfig } from '../config/hub-config.js';
import type { Logger } from '../core/logger.js';
import { NS_DISCOVERY } from '../iot/discovery.js';
import { CAPS_NODE, VERSION } from '../version.js';
import { createComponentTransport } from '../xmpp/component.js';
import { createDisco } from '../xmpp/disco.js';
import type { Transport } from '../xmpp/transport.js';
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
  const transport =
    deps.transport ?? createComponentTransport(config.xmpp.component, log.child({ module: 'xmpp' }));
  createDisco(transport, {
    identity: { category: 'component', type: 'generic', name: 'xmpp-iot thing registry' },
    features: [NS_DISCOVERY],
    capsNode: `${CAPS_NODE}#hub`,
  });
  const registry = createRegistry({
    transport,
    store,
    log: log.child({ module: 'registry' }),
    options: { claimAttemptsPerMinute: config.registry.claimAttemptsPerMinute },
  });
  registry.register();
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
        { domain: config.xmpp.component.domain, store: config.store, version: VERSION },
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
      await transport.stop();
      store.close();
      log.info({}, 'hub stopped');
    },
  };
}
