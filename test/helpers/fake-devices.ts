/**
 * A controllable device for tests of the XEP-0325 protocol side while real actuators are tested on their
 * simulators (issue 3): it keeps every parameter type in memory and reports it back as fields.
 */
import {
  type ControlSpec,
  type ControlValues,
  defineDevice,
  type FieldSpec,
  v,
} from '../../src/sdk/index.js';
import type { AgentFixtureOptions } from './agent-fixture.js';

export const memoryActuatorState = new Map<string, ControlValues>();
export const memoryActuatorWrites: { deviceId: string; values: ControlValues }[] = [];

const CONTROLS: ControlSpec[] = [
  { name: 'state', type: 'boolean', description: 'Relay state', field: 'state' },
  { name: 'level', type: 'int', description: 'Dimmer level', min: 0, max: 100, field: 'level' },
  { name: 'counter', type: 'long', description: 'A 64-bit counter' },
  {
    name: 'setpoint',
    type: 'double',
    description: 'Temperature setpoint',
    min: 5,
    max: 30,
    field: 'setpoint',
  },
  { name: 'mode', type: 'string', description: 'Mode', options: ['auto', 'manual', 'off'], field: 'mode' },
  { name: 'label', type: 'string', description: 'Free text' },
  { name: 'day', type: 'date', description: 'A date' },
  { name: 'at', type: 'time', description: 'A time' },
  { name: 'when', type: 'dateTime', description: 'A moment' },
  { name: 'fade', type: 'duration', description: 'Fade time' },
  { name: 'colour', type: 'color', description: 'LED colour' },
];

const FIELDS: FieldSpec[] = [
  { name: 'state', type: 'boolean', description: 'Relay state', flags: ['momentary', 'status'] },
  { name: 'level', type: 'int', description: 'Dimmer level' },
  { name: 'setpoint', type: 'numeric', unit: '°C', decimals: 1, description: 'Setpoint' },
  { name: 'mode', type: 'string', description: 'Mode' },
];

export const memoryActuator = defineDevice({
  type: 'memory_actuator',
  description: 'In-memory actuator (tests)',
  options: v.strictObject({}),
  fields: FIELDS,
  controls: CONTROLS,
  source: {
    kind: 'poll',
    defaultInterval: '1h',
    async read({ deviceId }) {
      const s = memoryActuatorState.get(deviceId) ?? {};
      return {
        state: (s.state as boolean | undefined) ?? false,
        level: (s.level as number | undefined) ?? 0,
        setpoint: (s.setpoint as number | undefined) ?? 20,
        mode: (s.mode as string | undefined) ?? 'auto',
      };
    },
    async set({ deviceId }, values) {
      memoryActuatorWrites.push({ deviceId, values: { ...values } });
      memoryActuatorState.set(deviceId, { ...(memoryActuatorState.get(deviceId) ?? {}), ...values });
    },
  },
});

/** The agent the control and operator suites drive: two memory actuators and the host, owned by alice and bob. */
export const hallWithActuators = {
  username: 'hall',
  owners: ['alice@localhost', 'bob@localhost'],
  extraDefinitions: [memoryActuator],
  devicesYaml: `
  - id: relay
    type: memory_actuator
  - id: lamp
    type: memory_actuator
  - id: host
    type: system
    interval: 1h`,
} satisfies AgentFixtureOptions<never>['agent'];
