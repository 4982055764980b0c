/** The fleet history store the ingest integration tests use: the hub's default, SQLite (a real file). */
import type { HistoryStore } from '../../src/hub/history.js';
import { openHistoryStore } from '../../src/hub/history-store.js';

export const openTestHistory = (path: string): Promise<HistoryStore> => openHistoryStore(path);
