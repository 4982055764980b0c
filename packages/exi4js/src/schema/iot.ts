/**
 * The XMPP schemas bundled in the package's schemas/ folder, compiled on first use: `xep-0323.xsd`
 * (urn:xmpp:iot:sensordata), `xep-0325.xsd` (urn:xmpp:iot:control), and for the stanza envelope and
 * the pubsub wrappers `jabber-client.xsd` (jabber:client), `stanzaerror.xsd`
 * (urn:ietf:params:xml:ns:xmpp-stanzas), `pubsub.xsd` and `pubsub-event.xsd` (XEP-0060), keyed by
 * their EXI schemaId, ready for `encode(xml, { schema })` / `decode(bytes, { schemas })`. Each file
 * names its source in a header comment.
 *
 * The .xsd files are read from the package's schemas/ folder (from src/ and from dist/ alike).
 */
import { existsSync, readFileSync } from 'node:fs';
import { ExiError } from '../bits.js';
import { type CompiledSchema, compileXsd, compileXsdSet } from './xsd.js';

export const IOT_SCHEMA_IDS = [
  'xep-0323.xsd',
  'xep-0325.xsd',
  'jabber-client.xsd',
  'stanzaerror.xsd',
  'pubsub.xsd',
  'pubsub-event.xsd',
] as const;
export type IotSchemaId = (typeof IOT_SCHEMA_IDS)[number];

/** Schemas that refer to components of another one and only compile together with it. */
export const SCHEMA_DEPENDENCIES: Partial<Record<IotSchemaId, readonly IotSchemaId[]>> = {
  'jabber-client.xsd': ['stanzaerror.xsd'],
};

const cache = new Map<IotSchemaId, CompiledSchema>();
const setCache = new Map<string, CompiledSchema>();
const texts = new Map<IotSchemaId, Buffer>();

/** The exact bytes of a bundled schema file. */
export function schemaFileBytes(id: IotSchemaId): Buffer {
  let b = texts.get(id);
  if (!b) {
    const candidates = [new URL(`../../schemas/${id}`, import.meta.url)]; // from src/schema and dist/schema alike
    const url = candidates.find((u) => existsSync(u));
    if (!url) throw new ExiError(`schema file ${id} not found next to ${import.meta.url}`);
    b = readFileSync(url);
    texts.set(id, b);
  }
  return b;
}

/** One of the bundled schemas, compiled alone (cached); schemas with dependencies need `schemaSet`. */
export function iotSchema(id: IotSchemaId): CompiledSchema {
  let s = cache.get(id);
  if (!s) {
    s = compileXsd(schemaFileBytes(id).toString('utf8'), id);
    cache.set(id, s);
  }
  return s;
}

/**
 * Several bundled schemas compiled as one (XEP-0322's canonical schema of the agreed files, cached), in
 * schemaId order; it has no schemaId. Throws ExiUnsupportedError when a schema's dependency is missing.
 */
export function schemaSet(ids: readonly IotSchemaId[]): CompiledSchema {
  const sorted = [...new Set(ids)].sort();
  const key = sorted.join(' ');
  let s = setCache.get(key);
  if (!s) {
    s = compileXsdSet(sorted.map((id) => schemaFileBytes(id).toString('utf8')));
    setCache.set(key, s);
  }
  return s;
}

/** The bundled schemas that compile alone, by schemaId, for the `schemas` decode option. */
export function iotSchemas(): Partial<Record<IotSchemaId, CompiledSchema>> &
  Record<'xep-0323.xsd' | 'xep-0325.xsd', CompiledSchema> {
  const out: Partial<Record<IotSchemaId, CompiledSchema>> = {};
  for (const id of IOT_SCHEMA_IDS) if (!SCHEMA_DEPENDENCIES[id]) out[id] = iotSchema(id);
  return out as Record<'xep-0323.xsd' | 'xep-0325.xsd', CompiledSchema>;
}
