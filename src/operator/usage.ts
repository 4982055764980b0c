/**
 * What the CLI needs to know about the operator commands without loading them (they pull in the XMPP client
 * modules): their names, help text, exit codes and the usage error. `xiot agent` never loads src/operator.
 */
export class UsageError extends Error {}

export const EXIT = { ok: 0, failed: 1, usage: 2, connect: 3, partial: 4 } as const;

export const OPERATOR_HELP = `Operator commands (credentials: ~/.config/xiot/operator.yaml, or XIOT_JID, XIOT_PASSWORD, XIOT_SERVICE):
  xiot read JID... [--node N] [--field F] [--types momentary,status] [--historical --from T --to T] [--json]
  xiot read --tag NAME=VALUE... --registry JID [--concurrency 8] [...]   every thing the registry finds
  xiot set JID... name=value... [--node N] [--message] [--json]
  xiot form JID [--node N] [--json]
  xiot watch [JID...] [--json] [--for 30s]
  xiot devices [JID...] [--json]           (JIDs given are added to your contacts)
  xiot claim CODE [--registry JID] [--private]   become the owner of a thing (XEP-0347 claim code)
  xiot things [--tag NAME=VALUE]... --registry JID [--json]   search a thing registry
  xiot disown JID --registry JID           give a thing up (it registers again, unclaimed)
  xiot rules list|allow|deny|remove ... --hub JID   who else may read or control your things (XEP-0324)
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
export const OPERATOR_COMMAND_NAMES: readonly string[] = [
  'read',
  'set',
  'form',
  'watch',
  'devices',
  'claim',
  'things',
  'disown',
  'rules',
];

const COMMON = `Common options:
  --jid USER@DOMAIN      the operator's account (or XIOT_JID; the password from XIOT_PASSWORD or the operator file)
  --service URI          the server (xmpp://, xmpps://, ws(s)://; or XIOT_SERVICE)
  --operator FILE        the operator file (default ~/.config/xiot/operator.yaml)
  --timeout 10s          how long to wait for each answer
  --json                 machine-readable output
  -h, --help             this help`;

/** Each operator command's own `--help`: its usage line, its options, then the options all of them take. */
export const OPERATOR_COMMAND_HELP: Record<string, string> = {
  read: `Usage: xiot read JID... [options]
       xiot read --tag NAME=VALUE... --registry JID [--concurrency 8] [options]
Reads devices (XEP-0323): momentary values by default, or the history an agent keeps.
  --tag NAME=VALUE       read every thing the registry finds with this tag ('#NAME=NUMBER' for a number;
                         repeatable, all must match; --registry JID or XIOT_REGISTRY)
  --concurrency N        things read at once (default 8); progress on stderr when it is a terminal
  --node N               only this device (repeatable)
  --field F              only this field (repeatable)
  --types T,T            field types: momentary, status, identity, historicalOther, ...
  --historical           read the agent's history (with --from and --to, ISO 8601 times)
A history the agent cut at its limit is printed with a notice on stderr naming the command that fetches the rest.
${COMMON}`,
  set: `Usage: xiot set JID... name=value... [options]
Sets control parameters (XEP-0325); every parameter is checked before any is applied.
  --node N               the device (repeatable; needed when the agent has several controllable devices)
  --message              send the set as a message (no answer, a receipt when the agent gives one)
${COMMON}`,
  form: `Usage: xiot form JID [options]
Shows the control form of a device (XEP-0325 getForm): parameters, types, ranges and current values.
  --node N               the device (repeatable)
${COMMON}`,
  watch: `Usage: xiot watch [JID...] [options]
Prints readings as agents publish them (PEP notifications), until Ctrl-C or --for.
  --for 30s              stop after this long
Without JIDs: every agent in your contacts and in agents: (operator file) or XIOT_AGENTS.
${COMMON}`,
  devices: `Usage: xiot devices [JID...] [options]
Lists agents, whether they are online, what they offer (sensor data, control) and their devices.
JIDs given are added to your contacts (a presence subscription the agent approves for its owners).
${COMMON}`,
  claim: `Usage: xiot claim CODE [options]
Makes you the owner of a thing registered with a thing registry (XEP-0347): CODE is its claim code, the text
(IoTDisco;MAN:…;KEY:…, quote it for the shell) or the iotdisco: URI, as \`xiot claim-code\` prints it.
A wrong or already used code is refused without saying which (and a few wrong tries a minute are all you get).
  --registry JID         the registry (default: the R= of an iotdisco: URI)
  --private              do not list the thing in the registry's searches
${COMMON}`,
  things: `Usage: xiot things [options]
Searches a thing registry (XEP-0347) for claimed public things: their JID, owner and meta tags (never KEY).
  --registry JID         the registry (or XIOT_REGISTRY)
  --tag NAME=VALUE       a string tag equal to VALUE; '#NAME=NUMBER' a numeric one (repeatable: all must hold)
  --offset N, --max N    page through the results
${COMMON}`,
  disown: `Usage: xiot disown JID [options]
Gives up a thing you own (XEP-0347 disown): the registry asks the thing, which drops you as its owner and
registers again, unclaimed, with a new claim code. Refused when the thing is offline.
  --registry JID         the registry (or XIOT_REGISTRY)
${COMMON}`,
  rules: `Usage: xiot rules list|allow|deny|remove ... [options]
Your provisioning rules at the hub (XEP-0324): who else may read or control your things. Things the hub
registered ask it about anyone but you; a rule answers, otherwise the hub asks you (a chat message).
  xiot rules list                               your rules, numbered
  xiot rules allow THING REQUESTER [flags]      THING: a thing's JID; REQUESTER: a JID or a whole domain
  xiot rules allow --tag NAME=VALUE REQUESTER   every thing of yours with this meta tag (e.g. ROOM=hall)
  xiot rules deny THING REQUESTER [flags]       refuse (for read and control, unless narrowed)
  xiot rules remove ID                          drop a rule
A new rule replaces yours for the same thing (or tag), requester and action. The most specific rule decides
(a JID before its domain, a thing before a tag; a deny before an allow); the things concerned forget what
they cached, and whoever is no longer allowed is unfriended.
  --read, --control      the actions (allow: --read by default; deny: both by default)
  --node N               allow only this node (device; repeatable)
  --field F              allow reading only this field (repeatable)
  --parameter P          allow controlling only this parameter (repeatable)
  --hub JID              the hub (or XIOT_HUB; --registry and XIOT_REGISTRY work too: it is the same component)
${COMMON}`,
};
