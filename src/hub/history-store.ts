/**
 * Opens the fleet history named by the hub config's `history.store`: a file path → SQLite (the default,
 * history-sqlite.ts), `postgres://…` or `postgresql://…` → PostgreSQL (history-postgres.ts). Only the history
 * can move to PostgreSQL: the registry and provisioning state (HubStore, small and synchronous) stay in SQLite.
 */
import type { Logger } from '../core/logger.js';
import type { HistoryDatabase } from './history-common.js';
import { openPostgresHistoryStore } from './history-postgres.js';
import { type HistoryStoreOptions, openSqliteHistoryStore } from './history-sqlite.js';

export type { HistoryDatabase } from './history-common.js';
export type { HistoryStoreOptions } from './history-sqlite.js';

export const isPostgresUrl = (spec: string) => /^postgres(ql)?:\/\//i.test(spec);

export async function openHistoryStore(
  spec: string,
  options: HistoryStoreOptions = {},
): Promise<HistoryDatabase> {
  return isPostgresUrl(spec)
    ? openPostgresHistoryStore(spec, options)
    : openSqliteHistoryStore(spec, options);
}

/**
 * Applies the store's retention now and then every `everyMs` (default hourly), one pass at a time; a failed
 * pass is logged and retried at the next tick. The hub starts it with the store and calls `stop()` before
 * closing the store.
 */
export function startRetention(
  store: HistoryDatabase,
  options: { everyMs?: number; log?: Logger } = {},
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let stopped = false;
  const pass = () => {
    if (stopped || running) return;
    running = store
      .applyRetention()
      .then(
        (r) => {
          if (r.raw || r.aggregates) options.log?.info(r, 'fleet history: retention applied');
        },
        (err: unknown) => {
          if (!stopped) options.log?.warn({ err: (err as Error).message }, 'fleet history: retention failed');
        },
      )
      .finally(() => (running = undefined));
  };
  const timer = setInterval(pass, options.everyMs ?? 3_600_000);
  timer.unref();
  pass();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
