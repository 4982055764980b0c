/** `xiot claim-code`: prints the agent's XEP-0347 claim code again (from its store; the agent may be running). */
import { claimCodeOf, claimedOwner } from '../agent/registry-client.js';
import { UsageError } from '../operator/usage.js';
import { openStore } from '../store/store.js';
import { type CliIo, parseCommand } from './args.js';
import { formatClaimCode } from './claim-qr.js';

export const CLAIM_CODE_HELP = `Usage: xiot claim-code --config FILE [--json | --qr]
Prints the claim code of an agent whose config names a registry (registry: JID): the text form
(IoTDisco;MAN:…;KEY:…), the iotdisco: URI, which also names the registry, and on a terminal the URI as a QR code
to scan. Whoever has it can claim the agent: keep it like a password. Its owner claims it with: xiot claim CODE
  -c, --config FILE      agent configuration (YAML)
  --json                 one JSON object {text, uri, registry, claimedBy} (no QR code), for scripts
  --qr                   draw the QR code even when the output is not a terminal (it uses ANSI colours)
  -h, --help             this help`;

export async function runClaimCode(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(
    'claim-code',
    argv,
    { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, qr: { type: 'boolean' } },
    CLAIM_CODE_HELP,
    io,
  );
  if (!parsed) return 0;
  const { values } = parsed;
  if (!values.config) throw new UsageError('claim-code needs --config FILE');
  if (values.json && values.qr) throw new UsageError('claim-code: --json and --qr exclude each other');
  const { loadAgentConfig } = await import('../agent/load-config.js');
  const config = loadAgentConfig(values.config, io.env, { allowMissingEnv: true });
  if (!config.registry) {
    io.stderr.write(`xiot: ${values.config} names no registry (registry: registry.example.org)\n`);
    return 1;
  }
  const store = openStore(config.store);
  try {
    const code = claimCodeOf(store, config.registry);
    const owner = claimedOwner(store);
    if (values.json) {
      const out = { text: code.text, uri: code.uri, registry: config.registry.jid, claimedBy: owner ?? null };
      io.stdout.write(`${JSON.stringify(out)}\n`);
      return 0;
    }
    const qr = values.qr === true || (io.stdout as { isTTY?: boolean }).isTTY === true;
    io.stdout.write(await formatClaimCode(code, { qr }));
    if (owner) io.stderr.write(`(already claimed by ${owner})\n`);
    return 0;
  } finally {
    store.close();
  }
}
