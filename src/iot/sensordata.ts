/**
 * XEP-0323 Sensor Data (urn:xmpp:iot:sensordata), encoding and parsing; the device-side readout sessions are in
 * readout.ts. Strict in what we emit (every numeric carries `unit`, timestamps carry `Z`), tolerant in what we
 * accept (interop.md: `identification` for `identity`, `timeSpan` for `duration`, naive timestamps, `<done/>`).
 * https://xmpp.org/extensions/xep-0323.html §3 (and ../shared/reference/iot-xeps.md §2)
 */
import { xml } from '@xmpp/client';
import { Element } from '@xmpp/xml';
import { xsDuration } from '../core/duration.js';
import {
  FIELD_TYPE_FLAGS,
  type Field,
  type FieldTypeFlag,
  type FieldValue,
  HISTORICAL_FLAGS,
  QOS_FLAGS,
  type QosFlag,
  type Reading,
  VALUE_TYPES,
  type ValueType,
} from '../model/fields.js';
import { NS } from '../xmpp/ns.js';

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

export function lexicalValue(field: Pick<Field, 'type' | 'value' | 'decimals'>): string {
  const { type, value } = field;
  if (value instanceof Date) {
    const iso = value.toISOString();
    if (type === 'date') return iso.slice(0, 10);
    if (type === 'time') return `${iso.slice(11, 23)}Z`;
    return iso;
  }
  if (type === 'numeric' && typeof value === 'number' && field.decimals !== undefined) {
    return value.toFixed(field.decimals);
  }
  if (type === 'duration' && typeof value === 'number') return xsDuration(value);
  return String(value);
}

export function fieldElement(field: Field): Element {
  // Built in place (no spread of a temporary object), and as an Element directly: xml() copies and re-stringifies
  // every attribute, and this runs for every field of every readout and reading (issue 12's profile).
  const attrs: Record<string, string> = { name: field.name };
  for (const f of field.flags) attrs[f] = 'true';
  for (const q of field.qos) attrs[q] = 'true';
  attrs.value = lexicalValue(field);
  if (field.type === 'numeric') attrs.unit = field.unit ?? '';
  if (field.type === 'enum') attrs.dataType = field.dataType ?? '';
  if (field.writable !== undefined) attrs.writable = String(field.writable);
  return new Element(field.type, attrs);
}

/** `<node nodeId><timestamp value>…fields…</timestamp>…</node>` for readings of one device. */
export function nodeElement(
  nodeId: string,
  readings: readonly Pick<Reading, 'timestamp' | 'fields'>[],
): Element {
  const node = new Element('node', { nodeId });
  for (const r of readings) {
    const timestamp = new Element('timestamp', { value: new Date(r.timestamp).toISOString() });
    for (const f of r.fields) timestamp.cnode(fieldElement(f));
    node.cnode(timestamp);
  }
  return node;
}

export function fieldsElement(seqnr: number | string, done: boolean, nodes: Element[]): Element {
  return xml(
    'fields',
    { xmlns: NS.sensordata, seqnr: String(seqnr), ...(done ? { done: 'true' } : {}) },
    ...nodes,
  );
}

/** The pubsub item payload for one reading (seqnr 0 = unsolicited, iot-xeps.md §9). */
export function readingPayload(reading: Reading): Element {
  return fieldsElement(0, true, [nodeElement(reading.deviceId, [reading])]);
}

export interface NodeRef {
  nodeId: string;
  sourceId?: string;
  cacheType?: string;
}

export interface ReadoutRequest {
  seqnr: number;
  /** Requested field types (union). Empty means "no preference": all types. */
  types: Set<FieldTypeFlag>;
  nodes: NodeRef[];
  fieldNames: string[];
  from?: number;
  to?: number;
  when?: number;
  tokens: { serviceToken?: string; deviceToken?: string; userToken?: string };
}

export class RequestError extends Error {}

export function parseBoolean(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return undefined;
}

/** xs:dateTime to ms. A value without zone is taken as local time (XEP-0323 §3.4; slixmpp sends those). */
export function parseDateTime(value: string): number | undefined {
  const m = /^(-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})?$/.exec(value.trim());
  if (!m) return undefined;
  const ms = Date.parse(m[2] ? `${m[1]}${m[2]}` : (m[1] as string));
  return Number.isNaN(ms) ? undefined : ms;
}

export function parseSeqnr(value: string | undefined): number {
  if (value === undefined || !/^[+-]?\d{1,11}$/.test(value.trim()))
    throw new RequestError('seqnr must be an xs:int');
  const n = Number(value);
  if (n < INT32.min || n > INT32.max) throw new RequestError('seqnr must be an xs:int');
  return n;
}

export function parseReadoutRequest(req: Element): ReadoutRequest {
  const a = req.attrs as Record<string, string | undefined>;
  const seqnr = parseSeqnr(a.seqnr);
  const types = new Set<FieldTypeFlag>();
  const flag = (name: string) => {
    const v = parseBoolean(a[name]);
    if (a[name] !== undefined && v === undefined) throw new RequestError(`${name} must be a boolean`);
    return v === true;
  };
  for (const f of FIELD_TYPE_FLAGS) if (flag(f)) types.add(f);
  if (flag('identification')) types.add('identity');
  if (flag('historical')) for (const f of HISTORICAL_FLAGS) types.add(f);
  if (flag('all')) for (const f of FIELD_TYPE_FLAGS) types.add(f);
  const time = (name: 'from' | 'to' | 'when') => {
    const raw = a[name];
    if (raw === undefined) return undefined;
    const ms = parseDateTime(raw);
    if (ms === undefined) throw new RequestError(`${name} must be an xs:dateTime`);
    return ms;
  };
  const nodes: NodeRef[] = [];
  const fieldNames: string[] = [];
  for (const child of req.getChildElements()) {
    if (child.name === 'node') {
      const { nodeId, sourceId, cacheType } = child.attrs as Record<string, string | undefined>;
      if (!nodeId) throw new RequestError('node without nodeId');
      nodes.push({ nodeId, ...(sourceId ? { sourceId } : {}), ...(cacheType ? { cacheType } : {}) });
    } else if (child.name === 'field') {
      if (!child.attrs.name) throw new RequestError('field without name');
      fieldNames.push(child.attrs.name as string);
    }
  }
  const from = time('from');
  const to = time('to');
  if (from !== undefined && to !== undefined && from > to) throw new RequestError('from is after to');
  const when = time('when');
  return {
    seqnr,
    types,
    nodes,
    fieldNames,
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    ...(when !== undefined ? { when } : {}),
    tokens: {
      ...(a.serviceToken ? { serviceToken: a.serviceToken } : {}),
      ...(a.deviceToken ? { deviceToken: a.deviceToken } : {}),
      ...(a.userToken ? { userToken: a.userToken } : {}),
    },
  };
}

/** Builds the `<req/>` a client sends. */
export function readoutRequestElement(r: {
  seqnr: number;
  types?: readonly FieldTypeFlag[] | 'all';
  nodes?: readonly string[];
  fields?: readonly string[];
  from?: Date;
  to?: Date;
  when?: Date;
}): Element {
  const attrs: Record<string, string> = { xmlns: NS.sensordata, seqnr: String(r.seqnr) };
  if (r.types === 'all') attrs.all = 'true';
  else for (const t of r.types ?? ['momentary']) attrs[t] = 'true';
  if (r.from) attrs.from = r.from.toISOString();
  if (r.to) attrs.to = r.to.toISOString();
  if (r.when) attrs.when = r.when.toISOString();
  return xml(
    'req',
    attrs,
    ...(r.nodes ?? []).map((nodeId) => xml('node', { nodeId })),
    ...(r.fields ?? []).map((name) => xml('field', { name })),
  );
}

/** A field as a client reads it from someone's `<fields/>`. */
export interface ParsedField {
  nodeId: string;
  timestamp: number;
  name: string;
  type: ValueType;
  /** The lexical value as sent. */
  value: string;
  unit?: string;
  dataType?: string;
  flags: FieldTypeFlag[];
  qos: QosFlag[];
  writable?: boolean;
}

const TYPE_ALIASES: Record<string, ValueType> = { timeSpan: 'duration' };

/** Every field inside a `<fields/>` element; unknown value elements are skipped (tolerance rule). */
export function parseFields(fields: Element): ParsedField[] {
  const out: ParsedField[] = [];
  for (const node of fields.getChildren('node')) {
    const nodeId = (node.attrs.nodeId as string | undefined) ?? '';
    for (const ts of node.getChildren('timestamp')) {
      const timestamp = parseDateTime((ts.attrs.value as string | undefined) ?? '') ?? Number.NaN;
      for (const el of ts.getChildElements()) {
        const type = (VALUE_TYPES as readonly string[]).includes(el.name)
          ? (el.name as ValueType)
          : TYPE_ALIASES[el.name];
        if (!type || el.attrs.name === undefined) continue;
        const a = el.attrs as Record<string, string | undefined>;
        const flags = FIELD_TYPE_FLAGS.filter((f) => parseBoolean(a[f]));
        if (parseBoolean(a.identification) && !flags.includes('identity')) flags.push('identity');
        const writable = parseBoolean(a.writable);
        out.push({
          nodeId,
          timestamp,
          name: a.name as string,
          type,
          value: a.value ?? '',
          ...(a.unit !== undefined ? { unit: a.unit } : {}),
          ...(a.dataType !== undefined ? { dataType: a.dataType } : {}),
          flags,
          qos: QOS_FLAGS.filter((q) => parseBoolean(a[q])),
          ...(writable !== undefined ? { writable } : {}),
        });
      }
    }
  }
  return out;
}

/** Field value for display and scripts: numbers for numeric/int/long, booleans, else the lexical string. */
export function typedValue(field: Pick<ParsedField, 'type' | 'value'>): FieldValue {
  if (field.type === 'numeric' || field.type === 'int') return Number(field.value);
  if (field.type === 'long')
    return /^[+-]?\d+$/.test(field.value) ? BigInt(field.value) : Number(field.value);
  if (field.type === 'boolean') return parseBoolean(field.value) ?? field.value;
  return field.value;
}

/** Our namespace for what XEP-0323 cannot say (issue 12): a historical readout cut at the agent's limit. */
export const NS_READOUT = 'urn:xmpp-iot:readout';

/** The prefix of the error text that says a historical readout was cut (clients match on it). */
export const HISTORY_TRUNCATED = 'history truncated';

/**
 * The message that ends a historical readout cut at `limit` readings (oldest first): a XEP-0323 `failure`, one
 * `error` per node read, saying where the rest begins. It is the last message and carries done='true'.
 * Readings are sent oldest first, so asking again with from = `restFrom` gets the rest (readings at that very
 * timestamp may come twice: a field is unique per node, name and timestamp, §3.3). The `failure` says it to
 * people in any client; a `truncated` marker inside it says it to programs (the xiot CLI):
 *   <truncated xmlns='urn:xmpp-iot:readout' seqnr='7' limit='10000' resume='2026-11-24T06:00:00Z'/>
 */
export function historyTruncated(
  seqnr: number,
  devices: readonly { id: string }[],
  limit: number,
  restFrom: number,
): Element {
  const from = new Date(restFrom).toISOString();
  const text = `${HISTORY_TRUNCATED}: more than ${limit} readings; sent the oldest ${limit}, the rest starts at ${from}: ask again with from='${from}'`;
  const timestamp = new Date().toISOString();
  return xml(
    'failure',
    { xmlns: NS.sensordata, seqnr: String(seqnr) },
    ...devices.map((d) => xml('error', { nodeId: d.id, timestamp }, text)),
    // The same, for programs: other clients ignore an element of an unknown namespace.
    xml('truncated', { xmlns: NS_READOUT, seqnr: String(seqnr), limit: String(limit), resume: from }),
  );
}
