/** Readings for tests of what reads the fleet history (the dashboard): one call per reading, defaults for the rest. */
import type { StoredReading } from '../../src/hub/history.js';

/** A numeric reading of `thing` (defaults for the rest). */
export function reading(
  thing: string,
  timestamp: number,
  value: number | string,
  extra: Partial<StoredReading> = {},
): StoredReading {
  return {
    thing,
    nodeId: 'sensor',
    name: 'temperature',
    timestamp,
    type: 'numeric',
    value: String(value),
    unit: '°C',
    flags: ['momentary'],
    qos: ['automaticReadout'],
    ...extra,
  };
}
