/**
 * The agent's composition root: the one place that wires the store, the device runners, the XMPP connection
 * and the protocol handlers, in order; shutdown runs in reverse. Everything else receives its collaborators.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import type { AgentConfig, DeviceConfig } from '../config/agent-config.js';
import { errorMessage, IotError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createFileSource } from '../hal/files.js';
import { createGpioPortFactory } from '../hal/gpio.js';
import { createSerialLinkFactory } from '../hal/serial.js';
import { NS_RECEIPTS } from '../iot/control.js';
import type { Reading } from '../model/fields.js';
import type { Hal } from '../sdk/index.js';
import { openStore, type ReadingStore } from '../store/store.js';
import { CAPS_NODE, VERSION } from '../version.js';
import { createDisco } from '../xmpp/disco.js';
import { bareOf } from '../xmpp/jid.js';
import { NS } from '../xmpp/ns.js';
import { createTransport, type Transport } from '../xmpp/transport.js';
import { createAccessPolicy, createRequestLimiter } from './access.js';
import { createAdhocService, NS_COMMANDS } from './adhoc.js';
import { createChatService } from './chat.js';
import type { CommandDeps } from './commands.js';
import { createControlService } from './control.js';
import { createPresenceStatus, presenceStatusLine } from './presence-status.js';
import { createProvisioningClient } from './provisioning.js';
import { createPublisher } from './publisher.js';
import { createReadoutService } from './readout.js';
import { claimedOwner, createRegistryClient } from './registry-client.js';
import { type ReloadPlan, planReload } from './reload.js';
import { createRosterPolicy } from './roster.js';
import { createDeviceRunner, type DeviceRunner } from './runner.js';

/** How long the backlog waits after a login for the presence of the owners we are subscribed to. */
const OWNER_PRESENCE_WAIT_MS = 3000;
/**
 * And for an owner we asked for a subscription at this login: an online owner's client approves at once (tens of
 * ms), a person later; past this the backlog goes (the hub's backfill is the net for owners who miss it).
 */
const ASKED_OWNER_WAIT_MS = 1000;

export interface Agent {
  readonly transport: Transport;
  readonly store: ReadingStore;
  readonly devices: ReadonlyMap<string, DeviceRunner>;
  /** The claim code (XEP-0347) when the config names a registry. */
  claimCode(): { text: string; uri: string } | undefined;
  /** Starts devices (they read and store at once, online or not) and connects; resolves when first online. */
  start(): Promise<void>;
  /** Graceful: stops devices, tries to publish what is pending for `drainMs`, goes offline, closes the store. */
  stop(options?: { drainMs?: number }): Promise<void>;
  status(): AgentStatus;
  /** Called for every stored reading (tests, the demo). */
  onReading(listener: (reading: Reading) => void): void;
  /**
   * Applies a new config's device list in place (src/runtime/reload.ts): added devices start, removed ones stop,
   * changed ones restart, the connection stays. Throws when the plan needs a full restart instead.
   */
  reloadDevices(next: AgentConfig): Promise<ReloadPlan>;
}

export interface AgentStatus {
  version: string;
  jid: string | undefined;
  online: boolean;
  uptimeMs: number;
  outbox: number;
  published: number;
  lastPublishError?: string;
  devices: Record<string, ReturnType<DeviceRunner['status']>>;
}

export function createAgent(
  initialConfig: AgentConfig,
  deps: {
    log: Logger;
    hal?: Hal;
    /** Registered unclaimed with the registry: the claim code to show (beside the log line). */
    onClaimCode?: (code: { text: string; uri: string }) => void;
  },
): Agent {
  let config = initialConfig; // devices replaced by reloadDevices
  const { log } = deps;
  const startedAt = Date.now();
  // The agent's own file source keeps /proc descriptors open (hal/procfs.ts): closed at stop.
  let ownFiles: ReturnType<typeof createFileSource> | undefined;
  const hal: Hal = deps.hal ?? {
    files: (ownFiles = createFileSource({
      ...(config.hardware.procRoot ? { proc: config.hardware.procRoot } : {}),
      ...(config.hardware.sysRoot ? { sys: config.hardware.sysRoot } : {}),
    })),
    // onoff always uses the real /sys/class/gpio, so the chip base is read there too (not under sysRoot).
    gpio: createGpioPortFactory({
      files: createFileSource(),
      chipBase: config.hardware.gpioChipBase,
      log: log.child({ module: 'gpio' }),
    }),
    serial: createSerialLinkFactory(),
  };
  const store = openStore(config.store);
  const { limits } = config;
  const transport = createTransport(
    { ...config.xmpp, maxStanzaBytes: limits.stanzaSize },
    log.child({ module: 'xmpp' }),
  );
  // One budget per requester across readouts, control, ad-hoc commands and chat (README "Limits").
  const limiter = createRequestLimiter({ rate: limits.requestRate, burst: limits.requestBurst });
  // eslint-disable-next-line prefer-const -- assigned below, once access exists; the provisioning callbacks read it later
  let roster: ReturnType<typeof createRosterPolicy> | undefined;
  const provisioning = createProvisioningClient({
    transport,
    store,
    servers: config.provisioning.servers,
    log: log.child({ module: 'provisioning' }),
    onUnfriend: (jid) => void roster?.unfriend(jid),
    onFriend: (jid) => void roster?.friend(jid),
  });
  const access = createAccessPolicy(config.owners, provisioning);
  const registryOwner = config.registry ? claimedOwner(store) : undefined;
  if (registryOwner) access.addOwner(registryOwner);
  // The registry that claimed us provisions (learnt at an earlier login): its decisions cached in the store
  // answer strangers even while it is down (XEP-0324 §3.7: a mass reboot must not hammer it).
  const PROVISIONING_REGISTRY = 'registry.provisions';
  const adoptRegistry = async () => {
    if (!config.registry || !claimedOwner(store)) return;
    const answer = await provisioning.adopt(config.registry.jid);
    if (answer === 'yes') store.setMeta(PROVISIONING_REGISTRY, 'true');
    if (answer === 'no') {
      store.setMeta(PROVISIONING_REGISTRY, '');
      provisioning.forget(config.registry.jid);
    }
  };
  if (registryOwner && config.registry && store.getMeta(PROVISIONING_REGISTRY) === 'true')
    provisioning.addServer(config.registry.jid);
  const listeners: ((r: Reading) => void)[] = [];
  const publisher = config.publish.enabled
    ? createPublisher({
        transport,
        store,
        target: config.publish,
        owners: access.owners,
        devices: config.devices.length,
        log: log.child({ module: 'publish' }),
        holdAfterLogin: true,
      })
    : undefined;

  const devices = new Map<string, DeviceRunner>();
  let running = false;
  const addDevice = (device: DeviceConfig) => {
    const runner = createDeviceRunner({
      config: device,
      hal,
      log: log.child({ device: device.id }),
      onReading(reading) {
        try {
          store.add(reading, config.publish.enabled);
        } catch (err) {
          log.error({ device: device.id, err: errorMessage(err) }, 'could not store a reading');
          return;
        }
        publisher?.kick();
        for (const l of listeners) l(reading);
      },
      onAvailability: () => presence.changed(),
    });
    devices.set(device.id, runner);
    return runner;
  };
  for (const device of config.devices) addDevice(device);

  const hasControls = [...devices.values()].some((d) => d.controlSpecs.length > 0);
  const disco = createDisco(transport, {
    identity: { category: 'client', type: 'bot', name: 'xmpp-iot agent' },
    features: [
      NS.sensordata,
      NS.ping,
      NS.version,
      // Control is advertised only where something can be controlled (caps change with the device list).
      ...(hasControls ? [NS.control, NS_RECEIPTS] : []),
      NS_COMMANDS,
    ],
    capsNode: CAPS_NODE,
    items: () =>
      [...devices.values()].map((d) => ({
        node: d.id,
        name: `${d.config.type}: ${d.config.definition.description}`,
        features: d.controlSpecs.length ? [NS.sensordata, NS.control] : [NS.sensordata],
      })),
    nodeItems: { [NS_COMMANDS]: (from) => adhoc.list(from) },
    canListItems: async (from) =>
      (await access.canRead(from, { types: [], nodes: [], fields: [], tokens: {} })).allowed,
  });
  transport.handleIq('get', NS.version, 'query', () =>
    xml('query', { xmlns: NS.version }, xml('name', {}, 'xmpp-iot'), xml('version', {}, VERSION)),
  );
  const readout = createReadoutService({
    transport,
    access,
    devices,
    store,
    log: log.child({ module: 'readout' }),
    options: {
      maxSessionsPerRequester: limits.readouts,
      maxQueuedPerRequester: limits.queuedReadouts,
      maxNodes: limits.nodesPerRequest,
      maxFields: limits.fieldsPerRequest,
      limiter,
    },
  });
  readout.register();
  const control = createControlService({
    transport,
    access,
    devices,
    log: log.child({ module: 'control' }),
    limits: { parametersPerSet: limits.parametersPerSet, stringLength: limits.stringLength, limiter },
  });
  if (hasControls) control.register();
  const commands: CommandDeps = { devices, access, control, status: () => status() };
  const adhoc = createAdhocService({ transport, commands, log: log.child({ module: 'adhoc' }), limiter });
  adhoc.register();
  const chat = createChatService({
    transport,
    commands,
    log: log.child({ module: 'chat' }),
    limits: { chatBody: limits.chatBody, limiter },
  });
  roster = createRosterPolicy({ transport, access, log: log.child({ module: 'roster' }) });
  const registry = config.registry
    ? createRegistryClient({
        transport,
        store,
        settings: config.registry,
        log: log.child({ module: 'registry' }),
        hasOwners: () => access.owners.length > 0,
        ...(deps.onClaimCode ? { onRegistered: deps.onClaimCode } : {}),
        onClaimed(owner) {
          access.addOwner(owner);
          // A new owner is a new trust relationship: decisions cached under the old one go (XEP-0324 §3.7).
          store.clearDecisions();
          void roster?.friend(owner);
          void adoptRegistry();
        },
        onDisowned(owner) {
          store.clearDecisions();
          store.setMeta(PROVISIONING_REGISTRY, '');
          if (config.registry) provisioning.forget(config.registry.jid);
          if (config.owners.includes(owner)) return;
          access.removeOwner(owner);
          void roster?.unfriend(owner, 'after being disowned');
        },
      })
    : undefined;

  const presence = createPresenceStatus({
    line: () => presenceStatusLine([...devices].map(([id, d]) => ({ id, available: d.status().available }))),
    announce: (status) => transport.send(xml('presence', {}, disco.caps(), xml('status', {}, status))),
    online: () => transport.online,
  });
  let logins = 0;
  transport.on('online', () => {
    const login = ++logins;
    // Presences that arrive from now on, answers to the server's probes included (RFC 6121 §4.3).
    const heard = new Set<string>();
    // Only availability counts (none or `unavailable`): a `subscribed` comes before the contact's presence does.
    const onPresence = (stanza: Element) => {
      const type = stanza.attrs.type as string | undefined;
      if (stanza.is('presence') && stanza.attrs.from && (type === undefined || type === 'unavailable'))
        heard.add(bareOf(stanza.attrs.from as string));
    };
    transport.on('stanza', onPresence);
    void (async () => {
      await transport.send(xml('presence', {}, disco.caps(), xml('status', {}, presence.current())));
      if (config.provisioning.discover) await provisioning.discover();
      // Claimed through a registry that also provisions (our hub): its owner's rules decide for strangers.
      // Not awaited: a registry that is down must not hold up the roster and the backlog.
      void adoptRegistry();
      await provisioning.befriend();
      await roster?.reconcile();
      // Registering (or updating the tags) runs beside the backlog's wait: it has its own retries.
      void registry?.online();
      // The backlog waits until the owners we are subscribed to have been heard (online or not), at most
      // OWNER_PRESENCE_WAIT_MS: a PEP service (ejabberd's) notifies only contacts whose presence our session holds.
      const expected = roster?.ownersWeHear() ?? [];
      const asked = new Set(roster?.ownersAsked() ?? []);
      const since = Date.now();
      const waiting = () =>
        expected.some(
          (o) =>
            !heard.has(o) &&
            Date.now() - since < (asked.has(o) ? ASKED_OWNER_WAIT_MS : OWNER_PRESENCE_WAIT_MS),
        );
      while (transport.online && waiting()) await new Promise((r) => setTimeout(r, 20));
    })()
      .catch((err) => log.warn({ err: errorMessage(err) }, 'could not announce presence'))
      .finally(() => {
        transport.off('stanza', onPresence);
        if (login === logins) publisher?.release(); // a later login holds the backlog for itself
      });
  });

  let pruneTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const prune = () => {
    const removed = store.prune(Date.now() - config.history.retentionMs);
    if (removed) log.debug({ removed }, 'pruned history');
  };

  return {
    transport,
    store,
    devices,
    claimCode: () => registry?.claimCode(),
    async start() {
      log.info({ devices: devices.size, store: config.store, version: VERSION }, 'starting agent');
      prune();
      pruneTimer = setInterval(prune, Math.min(3_600_000, config.history.retentionMs));
      pruneTimer.unref();
      running = true;
      for (const d of devices.values()) d.start();
      await transport.start();
    },
    async reloadDevices(next) {
      const plan = planReload(config, next);
      if (plan.restartBecause.length)
        throw new IotError(
          'IOT_ERR_CONFIG',
          `a full restart is needed (${plan.restartBecause.join(', ')} changed)`,
        );
      await Promise.all(
        [...plan.removed, ...plan.changed.map((d) => d.id)].map(async (id) => {
          await devices.get(id)?.stop();
          devices.delete(id);
        }),
      );
      // The map keeps the config's order (disco items, status), so rebuild it in the new order.
      const kept = new Map(devices);
      devices.clear();
      for (const d of next.devices) {
        const existing = kept.get(d.id);
        if (existing) devices.set(d.id, existing);
        else {
          const runner = addDevice(d);
          if (running) runner.start();
        }
      }
      config = { ...config, devices: next.devices };
      presence.changed(); // the status line counts the devices
      log.info(
        {
          added: plan.added.map((d) => d.id),
          removed: plan.removed,
          restarted: plan.changed.map((d) => d.id),
        },
        'devices reloaded',
      );
      return plan;
    },
    async stop({ drainMs = 2000 } = {}) {
      running = false;
      clearInterval(pruneTimer);
      await Promise.all([...devices.values()].map((d) => d.stop()));
      readout.stop();
      ownFiles?.close();
      const deadline = Date.now() + drainMs;
      while (transport.online && store.outboxDepth() > 0 && Date.now() < deadline) {
        publisher?.kick();
        await new Promise((r) => setTimeout(r, 50));
      }
      publisher?.stop();
      presence.stop();
      roster?.stop();
      chat.stop();
      provisioning.stop();
      registry?.stop();
      await transport.stop();
      closed = true;
      store.close();
      log.info({}, 'agent stopped');
    },
    status,
    onReading: (listener) => {
      listeners.push(listener);
    },
  };

  function status(): AgentStatus {
    const stats = publisher?.stats();
    return {
      version: VERSION,
      jid: transport.jid,
      online: transport.online,
      uptimeMs: Date.now() - startedAt,
      outbox: closed ? 0 : store.outboxDepth(),
      published: stats?.published ?? 0,
      ...(stats?.lastError ? { lastPublishError: stats.lastError } : {}),
      devices: Object.fromEntries([...devices].map(([id, d]) => [id, d.status()])),
    };
  }
}
