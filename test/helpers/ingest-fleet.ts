/**
 * A small fleet for the ingest tests: agents with a fast counter device whose provisioning server is the hub,
 * a hub (on the server's component port, or logged in as an account: test/helpers/hub-modes.ts), and the
 * agents' own stores read directly (the truth the hub's history is compared with).
 */
import Database from 'better-sqlite3';
import type { Agent } from '../../src/agent/agent.js';
import type { Logger } from '../../src/core/logger.js';
import type { XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import type { HistoryStore, StoredReading } from '../../src/hub/history.js';
import type { IngestOptions } from '../../src/hub/ingest.js';
import { defineDevice, v } from '../../src/sdk/index.js';
import { createComponentTransport } from '../../src/xmpp/component.js';
import { createTransport } from '../../src/xmpp/transport.js';
import { agentConfig, startAgent, testLogger } from './agent.js';
import type { HubLink } from './hub-modes.js';

const counters = new Map<string, number>();

/** One int field `n` counting up, read on the runner's schedule (an interval like 100ms). */
export const tickDevice = defineDevice({
  type: 'tick',
  description: 'A counter (ingest tests)',
  options: v.strictObject({}),
  fields: [{ name: 'n', type: 'int', description: 'Count' }],
  source: {
    kind: 'poll',
    defaultInterval: '100ms',
    async read({ deviceId }) {
      const n = (counters.get(deviceId) ?? 0) + 1;
      counters.set(deviceId, n);
      return { n };
    },
  },
});

export async function startFleetAgent(
  server: XmppServer,
  username: string,
  dir: string,
  /** The hub's JID (its component domain or its account's bare JID): the agent's provisioning server. */
  hub: string,
  opts: { interval?: string; log?: Logger } = {},
): Promise<Agent> {
  const config = agentConfig(server, {
    username,
    password: `${username}-pw`,
    owners: ['owner@localhost'],
    store: `${dir}/${username}.db`,
    extraYaml: `provisioning: { servers: [${hub}] }`,
    extraDefinitions: [tickDevice],
    devicesYaml: `  - { id: ${username}-tick, type: tick, interval: ${opts.interval ?? '100ms'} }`,
  });
  return startAgent(config, opts.log ?? testLogger());
}

/** A hub with ingest for `things`, connected as `link` says, reconnecting fast (the tests restart its server). */
export function newFleetHub(
  server: XmppServer,
  link: HubLink,
  dir: string,
  history: HistoryStore,
  things: string[],
  ingest: Omit<IngestOptions, 'things'> = {},
  log = testLogger(),
): Hub {
  const xmpp = link.xmpp(server);
  const reconnect = { minMs: 200, maxMs: 1000 };
  return createHub(
    {
      xmpp,
      store: `${dir}/hub.db`,
      registry: { claimAttemptsPerMinute: 10 },
      log: { level: 'info' },
      history: {
        store: `${dir}/history.db`,
        retention: { rawMs: 30 * 86_400_000, aggregatesMs: 365 * 86_400_000, resolutionMs: 60_000 },
      },
      things,
    },
    {
      log,
      history,
      ingest,
      transport: xmpp.account
        ? createTransport({ ...xmpp.account, reconnect }, log)
        : createComponentTransport({ ...xmpp.component, reconnect }, log),
    },
  );
}

/** An agent's store as the hub keys readings: thing, node, timestamp, field → lexical value. */
export function agentReadings(storePath: string, thing: string): Map<string, string> {
  const db = new Database(storePath, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT device, ts, fields FROM readings').all() as {
      device: string;
      ts: number;
      fields: string;
    }[];
    const out = new Map<string, string>();
    for (const row of rows)
      for (const f of JSON.parse(row.fields) as { name: string; value: unknown }[])
        out.set(`${thing}\u0000${row.device}\u0000${row.ts}\u0000${f.name}`, String(f.value));
    return out;
  } finally {
    db.close();
  }
}

export const keyOf = (r: StoredReading) => `${r.thing}\u0000${r.nodeId}\u0000${r.timestamp}\u0000${r.name}`;
