/**
 * The fleet history store integration tests use. TEMPORARY until the SQLite store (branch `history`) is merged:
 * an in-memory store kept per path, so a restarted hub finds what it stored. Replaced by openHistoryStore.
 */
import type { HistoryStore } from '../../src/hub/history.js';
import { memoryHistory, type MemoryHistory } from './memory-history.js';

const byPath = new Map<string, MemoryHistory>();

export async function openTestHistory(path: string): Promise<HistoryStore> {
  let h = byPath.get(path);
  if (!h) {
    h = memoryHistory();
    byPath.set(path, h);
  }
  return h;
}
