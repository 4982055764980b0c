/**
 * A throwaway PostgreSQL (Debian's package) for tests, the bench and trying the hub: initdb in a temp dir, a
 * free loopback port, the socket in that dir, stopped with `pg_ctl -m immediate` (nothing in it is worth a
 * checkpoint). PostgreSQL refuses to run as root, so as root (CI) every command runs as user `postgres`
 * through runuser and the dir is chowned to it. Only the server this module started is ever stopped or killed:
 * by its data dir, or by the PID in that dir's postmaster.pid.
 *
 *   const pg = await startPostgres();
 *   const url = await pg.createDatabase('t1');   // postgres://postgres@127.0.0.1:PORT/t1
 *   await pg.stop();
 */
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { IotError, MissingDependencyError } from '../core/errors.js';
import { findExecutable } from './system-deps.js';
import { freePorts, HOST, shortTempRoot, trackLive, untrackLive } from './server-process.js';

export interface PostgresOptions {
  /**
   * Keep fsync and synchronous commits on, as a production server has them (the bench: an honest
   * comparison with SQLite). Off by default: test data is thrown away, and fsync makes every test slower.
   */
  durable?: boolean;
}

export interface PostgresServer {
  readonly port: number;
  readonly dir: string;
  /** The `postgres` database, as superuser `postgres` (no password: trust on loopback). */
  readonly url: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  logs(): string;
  stop(): Promise<void>;
}

const INSTALL = 'apt-get install -y postgresql';

/** The newest installed PostgreSQL's bin dir (Debian: /usr/lib/postgresql/VERSION/bin), or throws the fix. */
export function findPostgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return path.join(root, versions[0], 'bin');
  const initdb = findExecutable('initdb');
  if (initdb && findExecutable('pg_ctl')) return path.dirname(initdb);
  throw new MissingDependencyError('PostgreSQL', INSTALL);
}

/** The server's PID from its data dir (first line of postmaster.pid), if it runs. */
function postmasterPid(data: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const isRoot = () => process.getuid?.() === 0;

function postgresIds(): { uid: number; gid: number } {
  const id = (flag: string) =>
    Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || uid <= 0)
    throw new MissingDependencyError('the user postgres (made by the postgresql package)', INSTALL);
  return { uid, gid };
}

function run(file: string, args: string[], cwd: string): Promise<string> {
  // As root: PostgreSQL's binaries run as user postgres (they refuse root).
  const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
  return new Promise((resolve, reject) => {
    execFile(
      cmd as string,
      argv as string[],
      { cwd, env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) reject(Object.assign(err, { output: `${stdout}${stderr}` }));
        else resolve(`${stdout}${stderr}`);
      },
    );
  });
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = findPostgresBin();
  if (isRoot() && !findExecutable('runuser'))
    throw new MissingDependencyError(
      'runuser (to start PostgreSQL as user postgres)',
      'apt-get install -y util-linux',
    );
  // Short: the socket path (DIR/.s.PGSQL.PORT) must stay under ~107 characters.
  const dir = mkdtempSync(path.join(shortTempRoot(), 'xiot-pg-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'log');
  const logs = () => {
    try {
      return readFileSync(log, 'utf8');
    } catch {
      return '';
    }
  };
  let pid: number | undefined;
  const live = {
    killOnExit() {
      // Synchronous, from process.on('exit'): SIGQUIT is PostgreSQL's immediate shutdown (it ends its children).
      if (pid !== undefined)
        try {
          process.kill(pid, 'SIGQUIT');
        } catch {
          // gone already
        }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    if (isRoot()) {
      const { uid, gid } = postgresIds();
      chownSync(dir, uid, gid);
    }
    await run(
      path.join(bin, 'initdb'),
      ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
      dir,
    );
    const settings = options.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      [port] = (await freePorts(1)) as [number];
      try {
        await run(
          path.join(bin, 'pg_ctl'),
          [
            '-D',
            data,
            '-l',
            log,
            '-w',
            '-t',
            '60',
            '-o',
            `-p ${port} -k ${dir} -c listen_addresses=${HOST}${settings}`,
            'start',
          ],
          dir,
        );
        break;
      } catch (err) {
        // The port was taken between choosing and binding: again with another one.
        if (attempt < 3 && /could not bind|Address already in use/i.test(logs())) continue;
        throw err;
      }
    }
    pid = postmasterPid(data);
    trackLive(live);
    const base = `postgres://postgres@${HOST}:${port}`;
    let stopping: Promise<void> | undefined;
    return {
      port,
      dir,
      url: `${base}/postgres`,
      logs,
      async createDatabase(name) {
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name))
          throw new IotError('IOT_ERR_STORE', `database name ${name}: use a-z, 0-9 and _`);
        const client = new pg.Client({ connectionString: `${base}/postgres` });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        return `${base}/${name}`;
      },
      stop() {
        stopping ??= (async () => {
          try {
            await run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], dir);
          } catch {
            live.killOnExit();
          }
          untrackLive(live);
          await rm(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (err) {
    const message = `could not start a throwaway PostgreSQL in ${dir}: ${(err as Error).message.split('\n')[0]}\n${(err as { output?: string }).output ?? ''}${logs()}`;
    // pg_ctl may give up waiting while the server it started runs on: that one is ours to end.
    pid ??= postmasterPid(data);
    live.killOnExit();
    if (err instanceof IotError) throw err;
    throw new IotError('IOT_ERR_STORE', message.trim(), { cause: err });
  }
}
