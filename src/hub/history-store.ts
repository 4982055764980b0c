/**
 * Opens the fleet history named by the hub config's `history.store`: a file path → SQLite (the default,
 * history-sqlite.ts), `postgres://…` or `postgresql://…` → PostgreSQL (history-postgres.ts). Only the history
 * can move to PostgreSQL: the registry and provisioning state (HubStore, small and synchronous) stay in SQLite.
 */
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
