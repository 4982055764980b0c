/**
 * One interface for the throwaway XMPP servers of tests, the demo and benchmarks: Prosody 0.12 (the default)
 * and ejabberd 23.01. A behaviour suite runs against each kind (`describe.each(servers())`), so an agent that
 * only works with one of them fails a test.
 */
import { type EjabberdOptions, startEjabberd } from './ejabberd.js';
import { type ProsodyOptions, startProsody } from './prosody.js';

export type ServerKind = 'prosody' | 'ejabberd';

export const SERVER_KINDS: readonly ServerKind[] = ['prosody', 'ejabberd'];

export interface XmppServerOptions {
  /** Accounts registered on `localhost` once the server listens. */
  accounts?: Array<{ username: string; password: string }>;
  /**
   * Bare JIDs given admin rights. Prosody 0.12 needs them to create nodes on the pubsub component; ejabberd
   * lets every local user create nodes there, and exempts admins from the c2s shaper (Debian's default).
   */
  admins?: string[];
  /** A pubsub service at `pubsub.localhost` (`pubsubJid`). */
  pubsubComponent?: boolean;
  /** External XEP-0114 components (e.g. a provisioning server), reached on `componentPort`. */
  components?: Array<{ name: string; secret: string }>;
  /** Let clients register accounts in band (XEP-0077); default false. */
  inBandRegistration?: boolean;
  /** Minimum level written to the log file (default 'info'). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * PEM files of a certificate for `localhost` and its key: STARTTLS is offered (not required) on the c2s port,
   * and direct TLS (`directTlsPort`) and WebSocket over HTTPS (`httpsPort`) listen too. Without: no TLS at all.
   */
  tls?: { cert: string; key: string };
}

export interface XmppServer {
  readonly kind: ServerKind;
  readonly domain: 'localhost';
  readonly host: '127.0.0.1';
  readonly c2sPort: number;
  /** HTTP port (WebSocket at `/xmpp-websocket`). */
  readonly httpPort: number;
  /** Direct TLS c2s port (XEP-0368 style, `xmpps://`); 0 without the `tls` option. */
  readonly directTlsPort: number;
  /** HTTPS port (WebSocket at `/xmpp-websocket`, `wss://`); 0 without the `tls` option. */
  readonly httpsPort: number;
  /** For @xmpp/client: `xmpp://127.0.0.1:PORT`. */
  readonly service: string;
  /** Temp dir holding config, data and logs. */
  readonly dir: string;
  /** Port for external components (XEP-0114); 0 when none are configured. */
  readonly componentPort: number;
  /** `pubsub.localhost` when the pubsub component was asked for. */
  readonly pubsubJid?: string;
  /** Registers an account on `localhost` (works while the server runs). */
  register(username: string, password: string): Promise<void>;
  /** Kills the server and removes the dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL; keeps dir and data; resolves once the server is gone and its c2s port closed. */
  kill(): Promise<void>;
  /**
   * A graceful stop that keeps dir and data (a restart, not a crash: ejabberd's mnesia may lose its last writes
   * on SIGKILL); resolves once the server is gone and its c2s port closed. `start()` brings it back.
   */
  shutdown(): Promise<void>;
  /** (Re)starts with the same config, ports and data; resolves when clients can connect. */
  start(): Promise<void>;
  readonly running: boolean;
  /** Contents of the server's log. */
  logs(): string;
}

export type ServerOptions<K extends ServerKind> = K extends 'prosody' ? ProsodyOptions : EjabberdOptions;

/** Starts a throwaway server of that kind on free loopback ports and registers `options.accounts`. */
export async function startServer(kind: ServerKind, options: XmppServerOptions = {}): Promise<XmppServer> {
  return kind === 'prosody' ? startProsody(options) : startEjabberd(options);
}
