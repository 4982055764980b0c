/**
 * The hub's composition root: the one place that wires its store, its XMPP link and its roles, in order;
 * shutdown runs in reverse. Its roles: the XEP-0347 thing registry and the XEP-0324 provisioning server (owners'
 * rules, asking the owner), on the same transport and store and advertised in the same disco#info, with the
 * owners' ad-hoc commands; ingest (src/hub/ingest.ts) of every claimed or configured thing's readings into the
 * fleet history, when it is given one (`xiot hub` opens the one its config names); the web dashboard when the
 * config has `http`. The EXI gateway (src/hub/exi-gateway.ts) runs on its own for now.
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
import { NS } from '../xmpp/ns.js';
import { createThingAccess } from './access.js';
import type { HistoryStore } from './history.js';
import { openHistoryStore } from './history-store.js';
import { createIngest, type Ingest, type IngestOptions } from './ingest.js';
import { createRegistry } from './registry.js';
import { type HubStore, openSqliteHubStore } from './store.js';
import type { IngestStatsSource } from './web/metrics.js';
import { createWebServer, type WebServer } from './web/server.js';

export interface Hub {
  readonly transport: Transport;
  readonly store: HubStore;
  /** The dashboard and HTTP API, when the config has `http`. */
  readonly web?: WebServer;
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
    /** The fleet history: ingest fills it (only when given), the dashboard reads it (opened if not given). */
    history?: HistoryStore;
    /** Ingest tuning (tests shorten the period). */
    ingest?: Omit<IngestOptions, 'things'>;
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
    // +notify: PEP services that honour caps send us the things' readings (ingest subscribes explicitly too).
    features: [NS_DISCOVERY, NS_PROVISIONING, NS_COMMANDS, `${NS.sensordata}+notify`],
    capsNode: `${CAPS_NODE}#hub`,
    nodeItems: { [NS_COMMANDS]: async () => commands.list() },
  });
  const presence = account ? createAccountPresence({ transport, caps: disco.caps, log: xmppLog }) : undefined;
  presence?.start();
  let history = deps.history;
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
  // What only ingest knows, in the shape /metrics reads.
  const ingestStats: IngestStatsSource | undefined = ingest && {
    stats: () => {
      const s = ingest.stats();
      return {
        thingsOnline: s.things.filter((t) => t.online).length,
        readingsIngested: s.readingsIngested,
        backfills: s.backfills,
        ...(s.lagMs !== undefined ? { lagSeconds: s.lagMs / 1000 } : {}),
      };
    },
  };
  let web: WebServer | undefined;
  /** The dashboard, with the fleet history it reads (opened here unless the caller gave one). */
  const startWeb = async (http: NonNullable<HubConfig['http']>) => {
    // The history the config names (parseHubConfig defaults it beside the store), unless the caller gave one.
    history ??= await openHistoryStore(config.history.store, {
      retention: config.history.retention,
      log: log.child({ module: 'history' }),
    });
    web = createWebServer({
      config: http,
      access: createThingAccess(store),
      history,
      log: log.child({ module: 'web' }),
      ...(ingestStats ? { ingest: ingestStats } : {}),
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
    get history() {
      return history;
    },
    ...(ingest ? { ingest } : {}),
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
      ingest?.start();
      await transport.start();
      if (config.http) await startWeb(config.http);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const ingestStopped = ingest?.stop();
      await web?.stop();
      presence?.stop();
      provisioning.stop();
      await transport.stop();
      await ingestStopped;
      await history?.close(); // given or opened here, the hub closes it (closing twice is harmless)
      store.close();
      log.info({}, 'hub stopped');
    },
  };
}
