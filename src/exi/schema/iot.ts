/**
 * The XMPP IoT schemas checked in next to this file, compiled on first use:
 * `xep-0323.xsd` (urn:xmpp:iot:sensordata) and `xep-0325.xsd` (urn:xmpp:iot:control), keyed by
 * their EXI schemaId, ready for `encode(xml, { schema })` / `decode(bytes, { schemas })`.
 *
 * The .xsd files are read from src/exi/schema/ (also when running from dist/, which tsc does not
 * copy them to).
 */
import { existsSync, readFileSync } from 'node:fs';
import { ExiError } from '../bits.js';
import { type CompiledSchema, compileXsd } from './xsd.js';

export const IOT_SCHEMA_IDS = ['xep-0323.xsd', 'xep-0325.xsd'] as const;
export type IotSchemaId = (typeof IOT_SCHEMA_IDS)[number];

const cache = new Map<IotSchemaId, CompiledSchema>();

function schemaText(id: IotSchemaId): string {
  const candidates = [
    new URL(`./${id}`, import.meta.url),
    new URL(`../../../../src/exi/schema/${id}`, import.meta.url), // dist/src/exi/schema -> src/exi/schema
  ];
  for (const url of candidates) if (existsSync(url)) return readFileSync(url, 'utf8');
  throw new ExiError(`schema file ${id} not found next to ${import.meta.url}`);
}

/** One of the bundled IoT schemas, compiled (cached). */
export function iotSchema(id: IotSchemaId): CompiledSchema {
  let s = cache.get(id);
  if (!s) {
    s = compileXsd(schemaText(id), id);
    cache.set(id, s);
  }
  return s;
}

/** All bundled IoT schemas by schemaId, for the `schemas` decode option. */
export function iotSchemas(): Record<IotSchemaId, CompiledSchema> {
  return { 'xep-0323.xsd': iotSchema('xep-0323.xsd'), 'xep-0325.xsd': iotSchema('xep-0325.xsd') };
}
