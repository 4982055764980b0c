/**
 * Efficient XML Interchange (EXI) Format 1.0 (Second Edition) codec: schema-less, and
 * schema-informed for schemas compiled with `compileXsd` (strict=false).
 * See docs/exi.md for what is supported.
 */
import { decodeStream } from './decoder.js';
import { encodeEvents } from './encoder.js';
import { prepareEvents } from './session.js';
import { type ExiEvent, type ExiOptions, resolveOptions } from './types.js';
import { writeXml } from './xml.js';

export {
  ExiError,
  type ExiErrorCode,
  ExiLimitError,
  ExiTruncatedError,
  ExiUnsupportedError,
} from './bits.js';
export { decodeBody } from './body.js';
export { type CanonicalNode, canonicalEvents, canonicalXml } from './canonical.js';
export type { DecodedStream } from './decoder.js';
export { decodeStream } from './decoder.js';
export {
  IOT_SCHEMA_IDS,
  type IotSchemaId,
  iotSchema,
  iotSchemas,
  SCHEMA_DEPENDENCIES,
  schemaFileBytes,
  schemaSet,
} from './schema/iot.js';
export { type CompiledSchema, compileXsd, xsdTargetNamespace } from './schema/xsd.js';
export { createExiSession, type ExiSession } from './session.js';
export type { ExiAlignment, ExiEvent, ExiLimits, ExiOptions, ExiPreserve } from './types.js';
export { DEFAULT_LIMITS, XML_NS, XMLNS_NS } from './types.js';
export { isNCName } from './names.js';
export { asciiName, dropIgnorableWhitespace, parseXml, parseXmlFragment, serializeXml } from './xml.js';

/**
 * Encodes an XML document (or an event sequence) as an EXI stream: header and one body, with fresh string
 * tables and grammars. For a stream of bodies that share them (XEP-0322 sessionWideBuffers), see
 * `createExiSession`.
 */
export function encode(xml: string | readonly ExiEvent[], options: ExiOptions = {}): Uint8Array {
  const opts = resolveOptions(options);
  const events = prepareEvents(xml, opts, options.dropIgnorableWhitespace ?? false);
  return encodeEvents(events, opts, options.includeOptions ?? false, options.includeCookie ?? false);
}

/**
 * Decodes an EXI stream to its events. `options` are the out-of-band options, used only when
 * the header carries no options document.
 */
export function decodeEvents(bytes: Uint8Array, options?: ExiOptions): ExiEvent[] {
  return decodeStream(bytes, options).events;
}

/** Decodes an EXI stream to XML text (no XML declaration). */
export function decode(bytes: Uint8Array, options?: ExiOptions): string {
  return writeXml(decodeStream(bytes, options).events, true);
}
