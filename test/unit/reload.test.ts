import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { planReload } from '../../src/agent/reload.js';

const config = (xmpp: string, devices: string) =>
  parseAgentConfig(
    `xmpp: { service: "xmpp://h:5222", domain: h, username: ${xmpp}, password: p }\ndevices:\n${devices}`,
    {
      definitions: builtinDevices,
      env: {},
    },
  );

const host = '  - { id: host, type: system }\n';

describe('reload plans', () => {
  it('apply device changes in place: added, removed, changed, unchanged', () => {
    const plan = planReload(
      config('a', `${host}  - { id: t, type: system, interval: 5s }\n  - { id: gone, type: system }\n`),
      config('a', `${host}  - { id: t, type: system, interval: 6s }\n  - { id: fresh, type: system }\n`),
    );
    expect({
      restartBecause: plan.restartBecause,
      added: plan.added.map((d) => d.id),
      removed: plan.removed,
      changed: plan.changed.map((d) => d.id),
      unchanged: plan.unchanged,
    }).toEqual({
      restartBecause: [],
      added: ['fresh'],
      removed: ['gone'],
      changed: ['t'],
      unchanged: ['host'],
    });
  });

  it('restart everything when the account changes or control appears (caps)', () => {
    expect(planReload(config('a', host), config('b', host)).restartBecause).toEqual(['xmpp', 'store']); // the default store is named after the account
    expect(
      planReload(config('a', host), config('a', `${host}  - { id: relay, type: gpio_output, pin: 17 }\n`))
        .restartBecause,
    ).toEqual(['devices (control announced in caps)']);
  });
});
