/** A relay kept in memory, for fleet benchmarks: many agents in one process, no hardware. */
import { defineDevice, v } from '../src/sdk/index.js';

const state = new Map<string, boolean>();

export const benchRelay = defineDevice({
  type: 'bench_relay',
  description: 'In-memory relay (benchmarks)',
  options: v.strictObject({}),
  fields: [{ name: 'state', type: 'boolean', description: 'Relay state', flags: ['momentary', 'status'] }],
  controls: [{ name: 'state', type: 'boolean', description: 'Relay state', field: 'state' }],
  source: {
    kind: 'poll',
    defaultInterval: '1h',
    read: async ({ deviceId }) => ({ state: state.get(deviceId) ?? false }),
    set: async ({ deviceId }, values) => {
      state.set(deviceId, values.state === true);
    },
  },
});
