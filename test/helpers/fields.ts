/** Readings for tests: one field of each of XEP-0323's ten value types. */
import type { Field } from '../../src/model/fields.js';

export const MOMENTARY = { flags: ['momentary'], qos: ['automaticReadout'] } as Pick<Field, 'flags' | 'qos'>;

/** One field of each value type, measured at `at` (the date and time fields carry it too). */
export function oneOfEachType(at: Date): Field[] {
  const base = MOMENTARY;
  return [
    { ...base, name: 'T', type: 'numeric', value: 21.5, unit: '°C', decimals: 2 },
    { ...base, name: 'N', type: 'numeric', value: 3 },
    { ...base, name: 'I', type: 'int', value: -7 },
    { ...base, name: 'L', type: 'long', value: 9007199254740993n },
    { ...base, name: 'B', type: 'boolean', value: false },
    { ...base, name: 'S', type: 'string', value: 'ok' },
    { ...base, name: 'E', type: 'enum', value: 'High', dataType: 'Level' },
    { ...base, name: 'D', type: 'date', value: at },
    { ...base, name: 'Ti', type: 'time', value: at },
    { ...base, name: 'DT', type: 'dateTime', value: at },
    { ...base, name: 'Du', type: 'duration', value: 3725 },
  ];
}
