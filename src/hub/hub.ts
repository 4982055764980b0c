/**
 * The hub's composition root: the one place that wires its store, its XMPP link and its roles, in order;
 * shutdown runs in reverse. Roles: the XEP-0347 thing registry, and, when it is given a fleet history store
 * (`xiot hub` opens the one its config names), ingest (src/hub/ingest.ts) of every claimed or configured
 * thing's readings. The XEP-0324 provisioning server (rules, asking the owner) is wired here next, on the same
 * transport and store, and advertised in the same disco#info. The EXI gateway (src/hub/exi-gateway.ts) runs on
 * its own for now.
 */
import type { HubConfig } from '../config/hub-config.js';
import type { Logger } from '../core/logger.js';
import { NS_DISCOVERY } from '../iot/discovery.js';
import { CAPS_NODE, VERSION } from '../version.js';
import { createComponentTransport } from '../xmpp/component.js';
import { createDisco } from '../xmpp/disco.js';
import type { Transport } from '../xmpp/transport.js';
import { NS } from '../xmpp/ns.js';
import type { HistoryStore } from './history.js';
import { createIngest, type Ingest, type IngestOptions } from './ingest.js';
import { createRegistry } from './registry.js';
import { type HubStore, openSqliteHubStore } from './store.js';

export interface Hub {
  readonly transport: Transport;
  readonly store: HubStore;
  /** The fleet history and the ingest that fills it (when the hub has a history store). */
  readonly history?: HistoryStore;
  readonly ingest?: Ingest;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createHub(
  config: HubConfig,
  deps: {
    log: Logger;
    store?: HubStore;
    transport?: Transport;
    history?: HistoryStore;
    /** Ingest tuning (tests shorten the period). */
    ingest?: Omit<IngestOptions, 'things'>;
  },
): Hub {
  const { log } = deps;
  const store = deps.store ?? openSqliteHubStore(config.store);
  const transport =
    deps.transport ?? createComponentTransport(config.xmpp.component, log.child({ module: 'xmpp' }));
  const disco = createDisco(transport, {
    identity: { category: 'component', type: 'generic', name: 'xmpp-iot thing registry' },
    // +notify: PEP services that honour caps send us the things' readings (ingest subscribes explicitly too).
    features: [NS_DISCOVERY, `${NS.sensordata}+notify`],
    capsNode: `${CAPS_NODE}#hub`,
  });
  const registry = createRegistry({
    transport,
    store,
    log: log.child({ module: 'registry' }),
    options: { claimAttemptsPerMinute: config.registry.claimAttemptsPerMinute },
  });
  registry.register();
  const history = deps.history;
  const ingest = history
    ? createIngest({
        transport,
        history,
        claimed: () => store.listClaimed().map((t) => t.jid),
        caps: disco.caps,
        log: log.child({ module: 'ingest' }),
        options: { ...deps.ingest, things: config.things ?? [] },
      })
    : undefined;
  let stopped = false;
  return {
    transport,
    store,
    ...(history ? { history } : {}),
    ...(ingest ? { ingest } : {}),
    async start() {
      log.info(
        { domain: config.xmpp.component.domain, store: config.store, version: VERSION },
        'starting hub',
      );
      ingest?.start();
      await transport.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const ingestStopped = ingest?.stop();
      await transport.stop();
      await ingestStopped;
      await history?.close();
      store.close();
      log.info({}, 'hub stopped');
    },
  };
}
