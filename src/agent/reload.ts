/**
 * What a SIGHUP reload changes. Devices are compared one by one (id, type, schedule, timeout, fields, options):
 * added ones start, removed ones stop, changed ones restart, the others keep running untouched. Everything else
 * (account, owners, publishing, store, provisioning, hardware roots) is wired into the connection and its
 * services, so a change there restarts the whole agent, connection included. So does a change in whether any
 * device is controllable, since XEP-0325 support is announced in the agent's caps.
 */
import type { AgentConfig, DeviceConfig } from '../config/agent-config.js';

export interface ReloadPlan {
  /** Sections other than `devices` (and `log`) that changed: non-empty means a full restart. */
  restartBecause: string[];
  added: DeviceConfig[];
  removed: string[];
  changed: DeviceConfig[];
  unchanged: string[];
}

function deviceKey(d: DeviceConfig): string {
  return JSON.stringify({
    type: d.type,
    schedule: d.schedule,
    timeoutMs: d.timeoutMs,
    fields: d.fields,
    options: d.options,
  });
}

const hasControls = (c: AgentConfig) => c.devices.some((d) => d.controlSpecs.length > 0);

export function planReload(current: AgentConfig, next: AgentConfig): ReloadPlan {
  const restartBecause: string[] = (
    ['xmpp', 'owners', 'store', 'publish', 'history', 'hardware', 'provisioning', 'registry'] as const
  ).filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
  if (hasControls(current) !== hasControls(next)) restartBecause.push('devices (control announced in caps)');
  const before = new Map(current.devices.map((d) => [d.id, d]));
  const after = new Map(next.devices.map((d) => [d.id, d]));
  const plan: ReloadPlan = { restartBecause, added: [], removed: [], changed: [], unchanged: [] };
  for (const d of next.devices) {
    const old = before.get(d.id);
    if (!old) plan.added.push(d);
    else if (deviceKey(old) !== deviceKey(d)) plan.changed.push(d);
    else plan.unchanged.push(d.id);
  }
  for (const id of before.keys()) if (!after.has(id)) plan.removed.push(id);
  return plan;
}
