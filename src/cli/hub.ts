/** `xiot hub`: argv and help for the hub process (src/hub/hub.ts). */
import { errorMessage } from '../core/errors.js';
import { chooseLogFormat } from '../core/log-format.js';
import { createLogger, type LogLevel } from '../core/logger.js';
import { UsageError } from '../operator/usage.js';
import { type CliIo, checkLogLevel, parseCommand } from './args.js';
import { runUntilSignal } from './signals.js';

export const HUB_HELP = `Usage: xiot hub --config FILE [options]
Runs the hub, connected as an XEP-0114 component or as a plain account (Ctrl-C stops gracefully, twice
forces): the XEP-0347 thing registry (things register, owners claim them with their claim code, anyone searches
the claimed public things), the XEP-0324 provisioning server (claimed things ask it about anyone but their
owner; it answers from the owner's rules, \`xiot rules\`, or asks the owner by chat message and ad-hoc commands),
the fleet history (every reading of the claimed things and of \`things\`, kept once, gaps backfilled) and, with
\`http\`, the web dashboard.
  -c, --config FILE      hub configuration (YAML); \${VAR} is replaced from the environment or secretsFile
  --log-level LEVEL      trace|debug|info|warn|error|silent (overrides log.level)
  --log-format FORMAT    pretty (default on a terminal) or json (default otherwise, e.g. under systemd)
  -h, --help             this help

Config:
  xmpp:
    component: { service: "xmpp://127.0.0.1:5347", domain: registry.example.org, secret: "\${REGISTRY_SECRET}" }
    # or, where no component can be added (exactly one of the two): things name it registry: hub@example.org
    # account: { domain: example.org, username: hub, password: "\${HUB_PASSWORD}", service?, resource?: hub, tls? }
  store: hub.db                          # SQLite, relative to the config file
  registry: { claimAttemptsPerMinute: 5 }   # wrong claims allowed per claimant and minute
  provisioning:                          # optional; the defaults:
    askTimeout: 5s                       # a thing's question waits this long for its owner, then is denied (0s-9s)
    pendingFor: 1d                       # how long the owner may still answer it (then it is forgotten)
    maxPendingPerOwner: 50               # questions waiting per owner; more are denied without asking
  http: { host: 127.0.0.1, port: 8080 }     # the web dashboard and HTTP API (README "Dashboard")
  history: { store: history.db }         # SQLite beside store by default, or postgres://…
  things: [kitchen@example.org]          # ingested besides the things claimed in the registry`;

export async function runHubCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(
    'hub',
    argv,
    {
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
    },
    HUB_HELP,
    io,
  );
  if (!parsed) return 0;
  const { values } = parsed;
  if (!values.config) throw new UsageError('hub needs --config FILE');
  const level = values['log-level'];
  checkLogLevel(level);
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty')
    throw new UsageError(`--log-format: expected json or pretty, got "${format}"`);
  const { loadHubConfig } = await import('../config/hub-config.js');
  const config = loadHubConfig(values.config, io.env);
  const log = createLogger({
    level: (level as LogLevel | undefined) ?? config.log.level,
    format: chooseLogFormat(format, process.stderr),
  });
  const { createHub } = await import('../hub/hub.js');
  // The fleet history (SQLite beside the hub's store by default, or PostgreSQL) that ingest fills.
  const { openHistoryStore, startRetention } = await import('../hub/history-store.js');
  const history = await openHistoryStore(config.history.store, {
    retention: config.history.retention,
    log: log.child({ module: 'history' }),
  });
  const hub = createHub(config, { log, history });
  let retention: { stop(): Promise<void> } | undefined;
  return runUntilSignal(
    async () => {
      await hub.start();
      retention = startRetention(history, { log: log.child({ module: 'history' }) });
    },
    async () => {
      await retention?.stop(); // before the hub closes the store
      await hub.stop();
    },
    (err) => log.error({ err: errorMessage(err) }, 'hub failed'),
  );
}
