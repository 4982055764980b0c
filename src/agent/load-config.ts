import { readFileSync } from 'node:fs';
import { builtinDevices } from '../../devices/index.js';
import { type AgentConfig, parseAgentConfig } from '../config/agent-config.js';
import { ConfigError } from '../core/errors.js';

/** Reads and validates an agent config file against the built-in device types. Throws ConfigError. */
export function loadAgentConfig(
  path: string,
  env: Record<string, string | undefined> = process.env,
  options: { allowMissingEnv?: boolean } = {},
): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read the file: ${(err as Error).message}` }], path);
  }
  return parseAgentConfig(text, { definitions: builtinDevices, env, sourcePath: path, ...options });
}

/** What `xiot check` prints: everything that would run, secrets left out. */
export function describeConfig(config: AgentConfig): string {
  const lines = [
    `account   ${config.xmpp.username}@${config.xmpp.domain}${config.xmpp.resource ? `/${config.xmpp.resource}` : ''} via ${config.xmpp.service}`,
    `owners    ${config.owners.length ? config.owners.join(', ') : config.registry ? `(none: claimable through ${config.registry.jid}, xiot claim-code prints the code)` : '(none: nobody can read or control this agent)'}`,
    `store     ${config.store}`,
    `publish   ${config.publish.enabled ? `${config.publish.service} node ${config.publish.node} (access ${config.publish.accessModel})` : 'disabled'}`,
    `history   kept ${Math.round(config.history.retentionMs / 86_400_000)} day(s)`,
    `devices   ${config.devices.length}`,
  ];
  for (const d of config.devices) {
    const when = d.schedule
      ? d.schedule.kind === 'every'
        ? `every ${d.schedule.ms} ms`
        : `cron "${d.schedule.expression}"`
      : d.definition.source.kind;
    lines.push(`  ${d.id} (${d.type}) ${when}, timeout ${d.timeoutMs} ms`);
    for (const f of d.fieldSpecs) {
      const fc = d.fields[f.name];
      if (fc?.enabled === false) continue;
      const filters = fc?.filters.length
        ? `  filters: ${fc.filters.map((x) => JSON.stringify(x)).join(' → ')}`
        : '';
      lines.push(
        `    ${f.name.padEnd(16)} ${f.type}${f.unit ? ` [${f.unit}]` : ''}${f.optional ? ' (if present)' : ''}${filters}`,
      );
    }
  }
  return lines.join('\n');
}
