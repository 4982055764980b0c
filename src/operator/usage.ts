/**
 * What the CLI needs to know about the operator commands without loading them (they pull in the XMPP client
 * modules): their names, help text, exit codes and the usage error. `xiot agent` never loads src/operator.
 */
export class UsageError extends Error {}

export const EXIT = { ok: 0, failed: 1, usage: 2, connect: 3, partial: 4 } as const;

export const OPERATOR_HELP = `Operator commands (credentials: ~/.config/xiot/operator.yaml, or XIOT_JID, XIOT_PASSWORD, XIOT_SERVICE):
  xiot read JID... [--node N] [--field F] [--types momentary,status] [--historical --from T --to T] [--json]
  xiot set JID... name=value... [--node N] [--message] [--json]
  xiot form JID [--node N] [--json]
  xiot watch [JID...] [--json] [--for 30s]
  xiot devices [JID...] [--json]           (JIDs given are added to your contacts)
Common options: --jid USER@DOMAIN, --service URI, --operator FILE, --timeout 10s
A JID without resource means the contact's online resource; xiot asks for its presence if needed and
approves presence requests from the agents you name, list in agents: (operator file) or XIOT_AGENTS.

Examples:
  xiot read kitchen@example.org --field load1
  xiot read kitchen@example.org --historical --from 2026-11-24T00:00:00Z --to 2026-11-24T12:00:00Z --json
  xiot set hall@example.org/agent state=on --node relay
  xiot watch kitchen@example.org hall@example.org
Exit codes: 0 done, 1 refused or failed, 2 bad usage, 3 cannot connect or log in, 4 some devices failed.`;

/** The operator subcommands of `xiot` (src/operator/commands.ts implements them). */
export const OPERATOR_COMMAND_NAMES: readonly string[] = ['read', 'set', 'form', 'watch', 'devices'];
