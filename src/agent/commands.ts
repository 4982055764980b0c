/**
 * The operator command table: help, status, list, read, set. One definition of each command serves chat text
 * (src/xmpp/chat.ts), XEP-0050 ad-hoc commands (src/xmpp/adhoc.ts) and the help of the `xiot` CLI, so they
 * cannot drift apart. Commands run with the requester's rights: reads and sets go through the same access
 * checks as XEP-0323/0325 requests.
 */
import { quote } from '../xmpp/stanza-errors.js';
import { xml } from '@xmpp/client';
import { errorMessage } from '../core/errors.js';
import type { Field } from '../model/fields.js';
import type { AccessPolicy } from './access.js';
import type { createControlService } from './control.js';
import { NS } from '../xmpp/ns.js';
import { lexicalValue } from '../iot/sensordata.js';
import type { AgentStatus } from './agent.js';
import type { DeviceRunner } from './runner.js';

export interface CommandDeps {
  devices: ReadonlyMap<string, DeviceRunner>;
  access: AccessPolicy;
  control: ReturnType<typeof createControlService>;
  status(): AgentStatus;
}

export interface CommandResult {
  ok: boolean;
  text: string;
}

export interface CommandArg {
  name: string;
  description: string;
  optional?: boolean;
}

export interface CommandDef {
  name: string;
  /** XEP-0050 node and name (the title a client shows). */
  node: string;
  title: string;
  summary: string;
  args: CommandArg[];
  run(deps: CommandDeps, from: string, args: Record<string, string>): Promise<CommandResult>;
}

const ok = (text: string): CommandResult => ({ ok: true, text });
const fail = (text: string): CommandResult => ({ ok: false, text });

export function formatFields(fields: readonly Field[]): string {
  return fields.map((f) => `${f.name} = ${lexicalValue(f)}${f.unit ? ` ${f.unit}` : ''}`).join('\n');
}

function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

function device(deps: CommandDeps, id: string | undefined): DeviceRunner | CommandResult {
  if (!id) return fail(`Which device? (${[...deps.devices.keys()].join(', ')})`);
  return (
    deps.devices.get(id) ?? fail(`No device "${quote(id)}". Devices: ${[...deps.devices.keys()].join(', ')}`)
  );
}

export const COMMANDS: readonly CommandDef[] = [
  {
    name: 'help',
    node: 'help',
    title: 'Help',
    summary: 'what I understand',
    args: [],
    run: async () => ok(helpText()),
  },
  {
    name: 'status',
    node: 'status',
    title: 'Agent status',
    summary: 'version, uptime, connection, outbox depth, last errors per device',
    args: [],
    async run(deps) {
      const s = deps.status();
      const lines = [
        `xmpp-iot ${s.version}, up ${formatAge(s.uptimeMs)}, ${s.online ? `online as ${s.jid}` : 'offline'}`,
        `outbox: ${s.outbox} reading(s) waiting, ${s.published} published${s.lastPublishError ? ` (last error: ${s.lastPublishError})` : ''}`,
      ];
      for (const [id, d] of Object.entries(s.devices)) {
        const state = d.available === undefined ? 'starting' : d.available ? 'available' : 'UNAVAILABLE';
        const err = d.lastError
          ? `, last error ${formatAge(Date.now() - d.lastError.at)} ago: ${d.lastError.message}`
          : '';
        lines.push(`${id}: ${state}, ${d.reads} reads, ${d.failures} failures${err}`);
      }
      return ok(lines.join('\n'));
    },
  },
  {
    name: 'list',
    node: 'list',
    title: 'List devices',
    summary: 'the devices of this agent',
    args: [],
    async run(deps) {
      const lines = [...deps.devices.values()].map((d) => {
        const s = d.status();
        const state = s.available === undefined ? 'starting' : s.available ? 'available' : 'unavailable';
        const controls = d.controlSpecs.length
          ? `; set: ${d.controlSpecs.map((c) => c.name).join(', ')}`
          : '';
        return `${d.id} (${d.config.type}, ${state}): ${d.fieldSpecs.map((f) => f.name).join(', ')}${controls}`;
      });
      return ok(lines.join('\n') || 'No devices.');
    },
  },
  {
    name: 'read',
    node: 'read',
    title: 'Read device',
    summary: 'current values of a device, or of one field',
    args: [
      { name: 'device', description: 'Device' },
      { name: 'field', description: 'Field (all when empty)', optional: true },
    ],
    async run(deps, from, args) {
      const d = device(deps, args.device);
      if ('ok' in d) return d;
      const decision = await deps.access.canRead(from, {
        types: [],
        nodes: [d.id],
        fields: args.field ? [args.field] : [],
        tokens: {},
      });
      if (!decision.allowed || (decision.nodes && !decision.nodes.includes(d.id)))
        return fail('You may not read this device.');
      try {
        const reading = await d.readNow();
        const fields = reading.fields.filter(
          (f) =>
            (!args.field || f.name === args.field) && (!decision.names || decision.names.includes(f.name)),
        );
        if (args.field && fields.length === 0) {
          return fail(
            `${d.id} has no field "${quote(args.field)}". Fields: ${reading.fields.map((f) => f.name).join(', ')}`,
          );
        }
        return ok(`${d.id} at ${new Date(reading.timestamp).toISOString()}\n${formatFields(fields)}`);
      } catch (err) {
        return fail(`${d.id} cannot be read: ${errorMessage(err)}`);
      }
    },
  },
  {
    name: 'set',
    node: 'set',
    title: 'Set parameter',
    summary: 'change a parameter of a device (e.g. set relay state on)',
    args: [
      { name: 'device', description: 'Device' },
      { name: 'param', description: 'Parameter' },
      { name: 'value', description: 'Value' },
    ],
    async run(deps, from, args) {
      const d = device(deps, args.device);
      if ('ok' in d) return d;
      const spec = d.controlSpecs.find((c) => c.name === args.param);
      if (!spec) {
        return fail(
          d.controlSpecs.length
            ? `${d.id} has no parameter "${quote(args.param ?? '')}". Parameters: ${d.controlSpecs.map((c) => c.name).join(', ')}`
            : `${d.id} has no parameters to set.`,
        );
      }
      const value = spec.type === 'boolean' ? normaliseBoolean(args.value) : (args.value ?? '');
      try {
        await deps.control.execute(
          from,
          xml(
            'set',
            { xmlns: NS.control },
            xml('node', { nodeId: d.id }),
            xml(spec.type, { name: spec.name, value }),
          ),
        );
        return ok(`${d.id}: ${spec.name} set to ${quote(value)}`);
      } catch (err) {
        return fail(`Not set: ${errorMessage(err)}`);
      }
    },
  },
];

/** Chat-friendly booleans: on/off, yes/no, 1/0, true/false. */
function normaliseBoolean(v: string | undefined): string {
  const t = (v ?? '').trim().toLowerCase();
  if (['on', 'yes', 'true', '1', 'high'].includes(t)) return 'true';
  if (['off', 'no', 'false', '0', 'low'].includes(t)) return 'false';
  return t;
}

export function usage(c: CommandDef): string {
  return [
    c.name,
    ...c.args.map((a) => (a.optional ? `[${a.name.toUpperCase()}]` : a.name.toUpperCase())),
  ].join(' ');
}

export function helpText(): string {
  return ['Commands:', ...COMMANDS.map((c) => `  ${usage(c).padEnd(26)} ${c.summary}`)].join('\n');
}

/** Splits chat text into a command and its arguments; undefined when it is not a command. */
export function parseCommandText(
  text: string,
): { command: CommandDef; args: Record<string, string> } | undefined {
  const [word, ...rest] = text.trim().split(/\s+/);
  const command = COMMANDS.find((c) => c.name === word?.toLowerCase());
  if (!command) return undefined;
  const args: Record<string, string> = {};
  command.args.forEach((a, i) => {
    // The last argument takes the rest of the line (string values may contain spaces).
    const value = i === command.args.length - 1 ? rest.slice(i).join(' ') : rest[i];
    if (value) args[a.name] = value;
  });
  return { command, args };
}
