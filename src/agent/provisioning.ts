/**
 * XEP-0324 Provisioning, thing side (urn:xmpp:iot:provisioning; iot-xeps.md §4).
 * For requests from anyone but an owner, the agent asks its provisioning server(s): `isFriend` before accepting a
 * presence subscription, `canRead` before a readout, `canControl` before a set, forwarding the request's tokens.
 * Answers may narrow a request to some nodes, fields or parameters. With several servers all are asked and the
 * most permissive answer wins. Decisions are cached in the store (across restarts) until a trusted server sends
 * `clearCache`; `friend`/`unfriend`/`clearCache` are honoured only from a configured server.
 * A server is a normal account: the agent befriends it and sends its questions to the full JID it sees online.
 * A claimed agent also asks the registry that claimed it, when that registry (our hub) advertises
 * urn:xmpp:iot:provisioning: whoever owns the thing decides who else may use it (`adopt`, called by agent.ts).
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ReadingStore } from '../store/store.js';
import { bareOf } from '../xmpp/jid.js';
import { NS } from '../xmpp/ns.js';
import { parseBoolean } from '../iot/sensordata.js';
import {
  type ControlQuestion,
  type Decision,
  mostPermissive,
  NS_PROVISIONING,
  type ReadQuestion,
  type Tokens,
} from '../iot/provisioning.js';
import type { Transport } from '../xmpp/transport.js';

const DENY: Decision = { allowed: false };

function tokenAttrs(tokens: Tokens): Record<string, string> {
  return Object.fromEntries(Object.entries(tokens).filter(([, v]) => v)) as Record<string, string>;
}

export function createProvisioningClient(deps: {
  transport: Transport;
  store: ReadingStore;
  servers: readonly string[];
  log: Logger;
  timeoutMs?: number;
  /** Called when a trusted server says unfriend / friend. */
  onUnfriend?(jid: string): void;
  onFriend?(jid: string): void;
}) {
  const { transport, store, log } = deps;
  const servers = deps.servers.map((s) => s.toLowerCase());
  const configured = [...servers];
  const addServer = (jid: string) => {
    if (!servers.includes(jid.toLowerCase())) servers.push(jid.toLowerCase());
  };
  const online = new Map<string, string>(); // server bare JID → a full JID seen available
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const isTrusted = (from: string | undefined) => from !== undefined && servers.includes(bareOf(from));

  async function ask(server: string, question: Element): Promise<Element | undefined> {
    // A component (a domain JID) needs no friendship and has no resources: ask it directly.
    const to = online.get(server) ?? (server.includes('@') ? undefined : server);
    if (!to) {
      log.warn({ server }, 'provisioning server is offline; refusing the request');
      return undefined;
    }
    try {
      return await transport.request(xml('iq', { type: 'get', to }, question), timeoutMs);
    } catch (err) {
      log.warn({ server, err: errorMessage(err) }, 'provisioning server did not answer');
      return undefined;
    }
  }

  /** Asks every server, caches the merged answer when at least one server answered. */
  async function decide(
    key: string,
    question: () => Element,
    parse: (answer: Element) => Decision,
  ): Promise<Decision> {
    const cached = store.getDecision(key);
    if (cached) return JSON.parse(cached) as Decision;
    const answers = await Promise.all(servers.map((s) => ask(s, question())));
    const decisions = answers.flatMap((a) => (a ? [parse(a)] : []));
    const decision = mostPermissive(decisions);
    if (decisions.length > 0) store.setDecision(key, JSON.stringify(decision));
    return decision;
  }

  function narrowing(response: Element | undefined, childName: string, attr: string): Decision {
    if (!response) return DENY;
    if (parseBoolean(response.attrs.result as string | undefined) !== true) return DENY;
    const nodes = response.getChildren('node').map((n) => n.attrs.nodeId as string);
    const names = response.getChildren(childName).map((n) => n.attrs[attr] as string);
    return { allowed: true, ...(nodes.length ? { nodes } : {}), ...(names.length ? { names } : {}) };
  }

  async function onStanza(stanza: Element): Promise<void> {
    const from = stanza.attrs.from as string | undefined;
    if (!from) return;
    const bare = bareOf(from);
    if (stanza.is('presence') && servers.includes(bare)) {
      if (stanza.attrs.type === 'unavailable') {
        if (online.get(bare) === from) online.delete(bare);
      } else if (stanza.attrs.type === undefined) {
        online.set(bare, from);
      }
      return;
    }
    if (!stanza.is('message')) return;
    const unfriend = stanza.getChild('unfriend', NS_PROVISIONING);
    const friend = stanza.getChild('friend', NS_PROVISIONING);
    if (!unfriend && !friend) return;
    if (!isTrusted(from)) {
      log.info({ from }, 'ignored a provisioning message from an untrusted sender');
      return;
    }
    const jid = (unfriend ?? friend)?.attrs.jid as string | undefined;
    if (!jid) return;
    if (unfriend) deps.onUnfriend?.(bareOf(jid));
    else deps.onFriend?.(bareOf(jid));
  }

  const listener = (s: Element) =>
    void onStanza(s).catch((err) => log.warn({ err: errorMessage(err) }, 'provisioning'));
  transport.on('stanza', listener);
  transport.handleIq('set', NS_PROVISIONING, 'clearCache', (stanza) => {
    if (!isTrusted(stanza.attrs.from as string)) {
      return xml(
        'error',
        { type: 'cancel' },
        xml('forbidden', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }),
      );
    }
    const n = store.clearDecisions();
    log.info({ removed: n }, 'provisioning cache cleared');
    return xml('clearCacheResponse', { xmlns: NS_PROVISIONING });
  });

  return {
    get enabled() {
      return servers.length > 0;
    },
    servers,
    isTrusted,
    /**
     * Finds provisioning services on our XMPP server (XEP-0324 §3.1): disco#items of the domain, then
     * disco#info of each item, keeping those that advertise urn:xmpp:iot:provisioning.
     */
    async discover(): Promise<string[]> {
      const domain = transport.bareJid.split('@')[1] as string;
      const found: string[] = [];
      try {
        const items = await transport.request(
          xml('iq', { type: 'get', to: domain }, xml('query', { xmlns: NS.discoItems })),
        );
        const jids = (items.getChild('query')?.getChildren('item') ?? []).map((i) => i.attrs.jid as string);
        await Promise.all(
          jids.map(async (jid) => {
            const info = await transport
              .request(xml('iq', { type: 'get', to: jid }, xml('query', { xmlns: NS.discoInfo })))
              .catch(() => undefined);
            const features =
              info
                ?.getChild('query')
                ?.getChildren('feature')
                .map((f) => f.attrs.var) ?? [];
            if (features.includes(NS_PROVISIONING)) found.push(jid);
          }),
        );
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'could not look for provisioning services');
      }
      for (const jid of found) addServer(jid);
      if (found.length) log.info({ servers: found }, 'found provisioning services');
      return found;
    },
    /**
     * Asks `jid` for its disco#info and, when it advertises urn:xmpp:iot:provisioning, trusts it as a
     * provisioning server from now on (the registry that claimed us): `yes`, `no` (it answered without the
     * feature), or `unknown` (no answer: the caller keeps what it knew).
     */
    async adopt(jid: string): Promise<'yes' | 'no' | 'unknown'> {
      const bare = jid.toLowerCase();
      try {
        const info = await transport.request(
          xml('iq', { type: 'get', to: bare }, xml('query', { xmlns: NS.discoInfo })),
          timeoutMs,
        );
        const features = (info.getChild('query')?.getChildren('feature') ?? []).map((f) => f.attrs.var);
        if (!features.includes(NS_PROVISIONING)) return 'no';
      } catch (err) {
        log.warn(
          { server: bare, err: errorMessage(err) },
          'could not ask the registry whether it provisions',
        );
        return 'unknown';
      }
      if (!servers.includes(bare))
        log.info({ server: bare }, 'the registry that claimed us is our provisioning server');
      addServer(bare);
      return 'yes';
    },
    /** Trusts a server without asking (one adopted before a restart: its cached decisions stay usable). */
    addServer,
    /** Stops trusting a server adopted earlier (disowned); configured servers stay. */
    forget(jid: string): void {
      const bare = jid.toLowerCase();
      if (configured.includes(bare) || !servers.includes(bare)) return;
      servers.splice(servers.indexOf(bare), 1);
      online.delete(bare);
      log.info({ server: bare }, 'no longer asking this provisioning server');
    },
    /**
     * Befriend the servers (pre-approve where the server offers it, and subscribe), so their presence tells us
     * where to ask; their own request is approved as a friend's (roster.ts) when pre-approval is not offered.
     */
    async befriend(): Promise<void> {
      // Accounts only: a component needs no friendship.
      for (const server of servers.filter((s) => s.includes('@'))) {
        if (transport.preApproval) await transport.send(xml('presence', { type: 'subscribed', to: server }));
        await transport.send(xml('presence', { type: 'subscribe', to: server }));
      }
    },
    isFriend(jid: string): Promise<boolean> {
      const bare = bareOf(jid);
      return decide(
        `friend|${bare}`,
        () => xml('isFriend', { xmlns: NS_PROVISIONING, jid: bare }),
        (a) => ({
          allowed: parseBoolean(a.getChild('isFriendResponse')?.attrs.result as string | undefined) === true,
        }),
      ).then((d) => d.allowed);
    },
    canRead(jid: string, q: ReadQuestion): Promise<Decision> {
      const bare = bareOf(jid);
      const key = `read|${bare}|${[...q.types].sort()}|${[...q.nodes].sort()}|${[...q.fields].sort()}|${JSON.stringify(q.tokens)}`;
      return decide(
        key,
        () =>
          xml(
            'canRead',
            {
              xmlns: NS_PROVISIONING,
              jid: bare,
              ...(q.types.length ? Object.fromEntries(q.types.map((t) => [t, 'true'])) : { all: 'true' }),
              ...tokenAttrs(q.tokens),
            },
            ...q.nodes.map((nodeId) => xml('node', { nodeId })),
            ...q.fields.map((name) => xml('field', { name })),
          ),
        (a) => narrowing(a.getChild('canReadResponse'), 'field', 'name'),
      );
    },
    canControl(jid: string, q: ControlQuestion): Promise<Decision> {
      const bare = bareOf(jid);
      const key = `control|${bare}|${[...q.nodes].sort()}|${[...q.parameters].sort()}|${JSON.stringify(q.tokens)}`;
      return decide(
        key,
        () =>
          xml(
            'canControl',
            { xmlns: NS_PROVISIONING, jid: bare, ...tokenAttrs(q.tokens) },
            ...q.nodes.map((nodeId) => xml('node', { nodeId })),
            ...q.parameters.map((name) => xml('parameter', { name })),
          ),
        (a) => narrowing(a.getChild('canControlResponse'), 'parameter', 'name'),
      );
    },
    stop: () => transport.off('stanza', listener),
  };
}

export type ProvisioningClient = ReturnType<typeof createProvisioningClient>;
