/**
 * The setup most integration suites share: a throwaway XMPP server (Prosody or ejabberd) with accounts, an
 * in-process agent with a config written for it, owner-style clients, and the teardown of all of it.
 *
 *   describe.each(servers())('... (%s)', (kind) => {
 *     const fx = useAgentFixture({
 *       server: kind,
 *       accounts: ['hall', 'alice'], // passwords NAME-pw; or { hall: 'secret', alice: '…' }
 *       agent: { username: 'hall', owners: ['alice@localhost'], devicesYaml: '  - { id: host, type: system }' },
 *       clients: { owner: { username: 'alice', approve: ['hall@localhost'] } },
 *       subscribe: ['owner'],
 *     });
 *     it('...', () => fx.owner.sensors.readout(fx.jid));
 *   });
 */
import { afterAll, beforeAll } from 'vitest';
import {
  type ServerKind,
  startServer,
  type XmppServer,
  type XmppServerOptions,
} from '../../src/devtools/xmpp-server.js';
import type { Agent } from '../../src/agent/agent.js';
import { agentConfig, startAgent, startClient, type TestClient, tempDir } from './agent.js';

type TempDir = ReturnType<typeof tempDir>;

export interface AgentFixtureOptions<C extends string> {
  /** Which server to start. */
  server: ServerKind;
  /** Accounts registered on the server, username → password; a list of usernames gets `USERNAME-pw` each. */
  accounts: Record<string, string> | string[];
  /** Further server options (pubsub component, components, admins, …). */
  serverOptions?: Omit<XmppServerOptions, 'accounts'>;
  /** The agent's config; its password comes from `accounts`, its store defaults to `DIR/USERNAME.db`. */
  agent: Omit<Parameters<typeof agentConfig>[1], 'password' | 'store'> & { store?: string };
  /** Owner-style clients (see `startClient`) by name, started in this order; passwords come from `accounts`. */
  clients?: Record<C, { username: string; approve?: string[] }>;
  /** Start the clients once the agent is online (default: before the agent). */
  clientsAfterAgent?: boolean;
  /** Clients that subscribe to the agent's bare JID once both are online, in this order. */
  subscribe?: NoInfer<C>[];
}

export type AgentFixture<C extends string = never> = {
  server: XmppServer;
  agent: Agent;
  /** The agent's full JID. */
  jid: string;
  /** A temp dir of the fixture's (the agent's store is in it), removed by `stop`. */
  dir: TempDir;
  /** Stops the agent, then the clients in order, then the server; removes the temp dir. */
  stop(): Promise<void>;
} & { [K in C]: TestClient };

const RESERVED = new Set(['server', 'agent', 'jid', 'dir', 'stop']);

/**
 * Starts server, clients and agent as `options` say (a function of the fixture's temp dir path for options
 * that name it). What started is stopped again when a later step fails.
 */
export async function startAgentFixture<C extends string = never>(
  options: AgentFixtureOptions<C> | ((dir: string) => AgentFixtureOptions<C>),
): Promise<AgentFixture<C>> {
  const dir = tempDir();
  let server: XmppServer | undefined;
  let agent: Agent | undefined;
  const clients: [C, TestClient][] = [];
  const stop = async () => {
    await agent?.stop({ drainMs: 0 });
    for (const [, client] of clients) await client.stop();
    await server?.stop();
    dir.remove();
  };
  try {
    const opts = typeof options === 'function' ? options(dir.path) : options;
    const accounts = Array.isArray(opts.accounts)
      ? Object.fromEntries(opts.accounts.map((u) => [u, `${u}-pw`]))
      : opts.accounts;
    const password = (username: string): string => {
      const p = accounts[username];
      if (p === undefined) throw new Error(`${username} is not among the fixture's accounts`);
      return p;
    };
    const specs = Object.entries(opts.clients ?? {}) as [C, { username: string; approve?: string[] }][];
    for (const [name] of specs) if (RESERVED.has(name)) throw new Error(`a client cannot be named ${name}`);

    const s = await startServer(opts.server, {
      ...opts.serverOptions,
      accounts: Object.entries(accounts).map(([username, pw]) => ({ username, password: pw })),
    });
    server = s;
    const startClients = async () => {
      for (const [name, spec] of specs)
        clients.push([
          name,
          await startClient(s, spec.username, password(spec.username), { approve: spec.approve }),
        ]);
    };
    if (!opts.clientsAfterAgent) await startClients();
    const { username } = opts.agent;
    const a = await startAgent(
      agentConfig(s, {
        ...opts.agent,
        password: password(username),
        store: opts.agent.store ?? `${dir.path}/${username}.db`,
      }),
    );
    agent = a;
    if (opts.clientsAfterAgent) await startClients();
    const byName = Object.fromEntries(clients) as Record<C, TestClient>;
    for (const name of opts.subscribe ?? []) await byName[name].sensors.subscribe(`${username}@${s.domain}`);
    return Object.assign({ server: s, agent: a, jid: a.transport.jid as string, dir, stop }, byName);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/**
 * `startAgentFixture` in a `beforeAll` of the enclosing describe, `stop` in its `afterAll`. The object returned
 * is filled in when the `beforeAll` has run; hooks registered before this call run before it (and their
 * `afterAll` after its teardown).
 */
export function useAgentFixture<C extends string = never>(
  options: AgentFixtureOptions<C> | ((dir: string) => AgentFixtureOptions<C>),
): AgentFixture<C> {
  const fixture = {} as AgentFixture<C>;
  beforeAll(async () => {
    Object.assign(fixture, await startAgentFixture(options));
  });
  afterAll(async () => {
    await fixture.stop?.();
  });
  return fixture;
}
