/**
 * The XEP-0323 data model (https://xmpp.org/extensions/xep-0323.html §2.4): ten value types, fourteen field-type
 * flags, the QoS flags. Pure data; encoding to XML lives in src/xmpp/sensordata.ts.
 */
export const VALUE_TYPES = [
  'numeric',
  'int',
  'long',
  'boolean',
  'string',
  'enum',
  'date',
  'time',
  'dateTime',
  'duration',
] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

export const FIELD_TYPE_FLAGS = [
  'momentary',
  'peak',
  'status',
  'computed',
  'identity',
  'historicalSecond',
  'historicalMinute',
  'historicalHour',
  'historicalDay',
  'historicalWeek',
  'historicalMonth',
  'historicalQuarter',
  'historicalYear',
  'historicalOther',
] as const;
export type FieldTypeFlag = (typeof FIELD_TYPE_FLAGS)[number];
export const HISTORICAL_FLAGS = FIELD_TYPE_FLAGS.filter((f) => f.startsWith('historical'));

/** Ranked from least to most trustworthy (XEP-0323 §3.3), then the unranked markers. */
export const QOS_FLAGS = [
  'missing',
  'inProgress',
  'automaticEstimate',
  'manualEstimate',
  'manualReadout',
  'automaticReadout',
  'signed',
  'invoiced',
  'invoiceConfirmed',
  'timeOffset',
  'warning',
  'error',
  'endOfSeries',
  'powerFailure',
] as const;
export type QosFlag = (typeof QOS_FLAGS)[number];

/**
 * A value as devices produce it. numeric → number; int/long → number or bigint; boolean → boolean;
 * string/enum → string; date/time/dateTime → Date or lexical string; duration → lexical xs:duration string.
 */
export type FieldValue = number | bigint | boolean | string | Date;

/** One reported field: the value plus everything XEP-0323 says about it. */
export interface Field {
  name: string;
  type: ValueType;
  value: FieldValue;
  /** numeric only; '' for unitless numbers (the schema requires the attribute). */
  unit?: string;
  /** Decimals to emit for numeric values (keeps lexical precision: 21.50 stays 21.50). */
  decimals?: number;
  /** enum only: the enumeration type name. */
  dataType?: string;
  flags: FieldTypeFlag[];
  qos: QosFlag[];
  writable?: boolean;
}

/** One sample of one device: what the runner stores, publishes and serves. */
export interface Reading {
  deviceId: string;
  /** Milliseconds since the epoch (UTC). */
  timestamp: number;
  fields: Field[];
}
