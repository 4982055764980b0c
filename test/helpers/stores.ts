/**
 * The fleet history stores a suite runs against, like servers() for XMPP servers (one suite, every
 * implementation):
 *
 *   describe.each(stores())('fleet history (%s)', (kind) => {
 *     const specs = useStoreSpecs(kind);       // one PostgreSQL per test file, started on first use
 *     it('…', async () => { const store = await openHistoryStore(await specs.fresh()); … });
 *   });
 *
 * A missing PostgreSQL is skipped with the reason printed, or fails the run under CI=true (requirements.ts).
 * XIOT_TEST_STORES=sqlite (or postgres) narrows the list.
 */
import { afterAll, describe, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../../src/devtools/postgres.js';
import { tempDir } from './agent.js';
import { requirePostgres } from './requirements.js';

export type StoreKind = 'sqlite' | 'postgres';

const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];
const available: Record<StoreKind, () => boolean> = { sqlite: () => true, postgres: requirePostgres };

export function stores(): StoreKind[] {
  const wanted = process.env.XIOT_TEST_STORES?.split(',').map((s) => s.trim());
  const kinds = STORE_KINDS.filter((k) => (!wanted || wanted.includes(k)) && available[k]());
  if (kinds.length === 0)
    describe.skip('against each fleet history store (none selected: see XIOT_TEST_STORES)', () => {
      it('runs the suite against SQLite and PostgreSQL', () => undefined);
    });
  return kinds;
}

/** One PostgreSQL for the whole test file (a module is loaded once per file), started on first use. */
let postgres: Promise<PostgresServer> | undefined;
let databases = 0;

/**
 * `fresh()` gives a new, empty store spec for `openHistoryStore`: a new SQLite file, or a new database on the
 * file's PostgreSQL (~0.1 s; a server takes ~3 s). Everything is removed after the suite.
 */
export function useStoreSpecs(kind: StoreKind): { fresh(): Promise<string> } {
  const dir = tempDir('xiot-history-');
  afterAll(async () => {
    dir.remove();
    if (kind === 'postgres' && postgres) {
      const server = postgres;
      postgres = undefined;
      await (await server).stop();
    }
  });
  return {
    async fresh() {
      databases += 1;
      if (kind === 'sqlite') return `${dir.path}/history-${databases}.db`;
      postgres ??= startPostgres();
      return (await postgres).createDatabase(`t${databases}`);
    },
  };
}
