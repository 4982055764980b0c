/**
 * The two ways the hub connects (src/config/hub-config.ts): as an XEP-0114 component, or as a plain account.
 * Registry suites run once per server and per mode, so neither can drift from the other:
 *
 *   describe.each(hubCases())('XEP-0347 … (%s, %s hub)', (kind, mode) => { const link = hubLink(mode); … });
 *
 * XIOT_TEST_HUB_MODES=account (or component) narrows the list while working on one of them.
 */
import type { HubConfig } from '../../src/config/hub-config.js';
import type { ServerKind, XmppServer } from '../../src/devtools/xmpp-server.js';
import { findAccountAddress } from '../../src/xmpp/peer-address.js';
import type { Transport } from '../../src/xmpp/transport.js';
import { servers } from './servers.js';

export type HubMode = 'component' | 'account';
export const HUB_MODES: readonly HubMode[] = ['component', 'account'];

export function hubModes(): HubMode[] {
  const wanted = process.env.XIOT_TEST_HUB_MODES?.split(',').map((s) => s.trim());
  return HUB_MODES.filter((m) => !wanted || wanted.includes(m));
}

/** Every (server, hub mode) pair to run a registry suite against. */
export function hubCases(): [ServerKind, HubMode][] {
  return servers().flatMap((kind) => hubModes().map((mode): [ServerKind, HubMode] => [kind, mode]));
}

const COMPONENT = 'registry.localhost';
const SECRET = 'registry-secret';
const ACCOUNT = { username: 'hub', password: 'hub-pw' };

export interface HubLink {
  mode: HubMode;
  /** The registry's JID as things and owners name it: the component's domain or the account's bare JID. */
  jid: string;
  /** What startServer needs for it: a component, or one more account. */
  serverOptions: {
    components: { name: string; secret: string }[];
    accounts: { username: string; password: string }[];
  };
  /** The `xmpp:` section of a hub config object. */
  xmpp(server: XmppServer): HubConfig['xmpp'];
  /** The same as YAML, with the secret as `${SECRET}` (pass `env` to the loader). */
  yaml(server: XmppServer): string;
  env: Record<string, string>;
  /** The log line `xiot hub` writes once connected. */
  onlineMessage: RegExp;
  /** Where a client sends its IQs for the registry (an account's full JID, found through presence). */
  address(transport: Transport): Promise<string>;
}

/** Each client asks an account hub once (the hub's resource is fixed: its full JID survives its restarts). */
const known = new WeakMap<Transport, string>();
const accountAddress = async (transport: Transport, jid: string) => {
  const address = known.get(transport) ?? (await findAccountAddress(transport, jid));
  known.set(transport, address);
  return address;
};

export function hubLink(mode: HubMode): HubLink {
  if (mode === 'component')
    return {
      mode,
      jid: COMPONENT,
      serverOptions: { components: [{ name: COMPONENT, secret: SECRET }], accounts: [] },
      xmpp: (server) => ({
        component: { service: `xmpp://127.0.0.1:${server.componentPort}`, domain: COMPONENT, secret: SECRET },
      }),
      yaml: (server) =>
        `xmpp:\n  component: { service: "xmpp://127.0.0.1:${server.componentPort}", domain: ${COMPONENT}, secret: "\${SECRET}" }\n`,
      env: { SECRET },
      onlineMessage: /component online/,
      address: () => Promise.resolve(COMPONENT),
    };
  const jid = `${ACCOUNT.username}@localhost`;
  return {
    mode,
    jid,
    serverOptions: { components: [], accounts: [ACCOUNT] },
    xmpp: (server) => ({
      account: {
        service: server.service,
        domain: server.domain,
        username: ACCOUNT.username,
        password: ACCOUNT.password,
        resource: 'hub',
      },
    }),
    yaml: (server) =>
      `xmpp:\n  account: { service: "${server.service}", domain: ${server.domain}, username: ${ACCOUNT.username}, password: "\${SECRET}" }\n`,
    env: { SECRET: ACCOUNT.password },
    onlineMessage: /"msg":"online"/,
    address: (transport) => accountAddress(transport, jid),
  };
}

/** The `history` section of a hub config built in a test that does not look at the history: kept in memory. */
export const MEMORY_HISTORY: HubConfig['history'] = {
  store: ':memory:',
  retention: { rawMs: 30 * 86_400_000, aggregatesMs: 365 * 86_400_000, resolutionMs: 60_000 },
};

/**
 * A hub config for the registry suites: the link's mode (component or account), the store in `dir`, the given
 * claim throttle, the history in memory.
 */
export function registryHubConfig(
  xmpp: HubConfig['xmpp'],
  dir: string,
  claimAttemptsPerMinute: number,
): HubConfig {
  return {
    xmpp,
    store: `${dir}/hub.db`,
    registry: { claimAttemptsPerMinute },
    log: { level: 'info' },
    history: MEMORY_HISTORY,
  };
}
