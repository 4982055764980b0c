/**
 * XEP-0325 (Control) vocabulary, without I/O: parameter types and their lexical forms, parsing and checking a
 * `set`, the XEP-0004 form of a device's parameters (XEP-0122 validation, XEP-0336 notSame).
 * https://xmpp.org/extensions/xep-0325.html. The device-side service is src/agent/control.ts.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import type { ControlSpec, ControlType, ControlValue } from '../sdk/index.js';
import { formTypeProblem } from '../xmpp/forms.js';
import { NS } from '../xmpp/ns.js';
import { type Condition, quote } from '../xmpp/stanza-errors.js';
import { parseBoolean } from './sensordata.js';

export const NS_XDATA_VALIDATE = 'http://jabber.org/protocol/xdata-validate';
export const NS_XDATA_DYNAMIC = 'urn:xmpp:xdata:dynamic';
export const NS_RECEIPTS = 'urn:xmpp:receipts';

export const CONTROL_TYPES: readonly ControlType[] = [
  'boolean',
  'int',
  'long',
  'double',
  'string',
  'date',
  'time',
  'dateTime',
  'duration',
  'color',
];

/** Element names accepted for a parameter type: Smack sends `<bool>`; an integer is a fine double. */
export const ACCEPTED_ELEMENTS: Record<ControlType, readonly string[]> = {
  boolean: ['boolean', 'bool'],
  int: ['int'],
  long: ['long', 'int'],
  double: ['double', 'int', 'long'],
  string: ['string'],
  date: ['date'],
  time: ['time'],
  dateTime: ['dateTime'],
  duration: ['duration'],
  color: ['color'],
};
export const PARAMETER_ELEMENTS = new Set(Object.values(ACCEPTED_ELEMENTS).flat());

const LEXICAL: Record<Exclude<ControlType, 'boolean' | 'int' | 'long' | 'double' | 'string'>, RegExp> = {
  date: /^-?\d{4,}-\d{2}-\d{2}(Z|[+-]\d{2}:\d{2})?$/,
  time: /^\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/,
  dateTime: /^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/,
  duration: /^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/,
  color: /^[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$/,
};

const XS_DATATYPE: Record<ControlType, string> = {
  boolean: 'xs:boolean',
  int: 'xs:int',
  long: 'xs:long',
  double: 'xs:double',
  string: 'xs:string',
  date: 'xs:date',
  time: 'xs:time',
  dateTime: 'xs:dateTime',
  duration: 'xs:duration',
  color: 'xs:string',
};

export class ParamError extends Error {
  constructor(
    readonly param: string,
    readonly condition: Condition,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses and checks one lexical value against a parameter's declaration. `maxLength` is limits.stringLength; a
 * parameter may declare a smaller maximum of its own (a command template's `maxLength`).
 */
export function parseControlValue(
  spec: ControlSpec,
  raw: string | undefined,
  maxLength = Infinity,
): ControlValue {
  const bad = (why: string) => new ParamError(spec.name, 'bad-request', why);
  if (raw === undefined) throw bad('value missing');
  if (spec.maxLength !== undefined && raw.length > spec.maxLength && spec.maxLength < maxLength) {
    throw new ParamError(spec.name, 'policy-violation', `longer than ${spec.maxLength} characters`);
  }
  if (raw.length > maxLength) {
    throw new ParamError(spec.name, 'policy-violation', `over limits.stringLength (${maxLength})`);
  }
  const value = raw.trim();
  const inRange = (n: number) => {
    if (spec.min !== undefined && n < spec.min) throw bad(`must be at least ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) throw bad(`must be at most ${spec.max}`);
  };
  switch (spec.type) {
    case 'boolean': {
      const b = parseBoolean(value);
      if (b === undefined) throw bad('expected true or false');
      return b;
    }
    case 'int': {
      if (!/^[+-]?\d+$/.test(value)) throw bad('expected an integer');
      const n = Number(value);
      if (n < -(2 ** 31) || n > 2 ** 31 - 1) throw bad('out of the xs:int range');
      inRange(n);
      return n;
    }
    case 'long': {
      if (!/^[+-]?\d+$/.test(value)) throw bad('expected an integer');
      const n = BigInt(value);
      if (n < -(2n ** 63n) || n > 2n ** 63n - 1n) throw bad('out of the xs:long range');
      inRange(Number(n));
      return n;
    }
    case 'double': {
      const n = value === 'INF' ? Infinity : value === '-INF' ? -Infinity : Number(value);
      if (value === '' || Number.isNaN(n) || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^-?INF$/.test(value)) {
        throw bad('expected a number');
      }
      inRange(n);
      return n;
    }
    case 'string':
      if (spec.options && !spec.options.includes(raw))
        throw bad(`expected one of ${spec.options.join(', ')}`);
      return raw;
    default:
      if (!LEXICAL[spec.type].test(value))
        throw bad(
          `expected an ${XS_DATATYPE[spec.type]}${spec.type === 'color' ? ' RRGGBB or RRGGBBAA' : ''}`,
        );
      return value;
  }
}

export interface ParsedSet {
  nodeIds: string[];
  /** In document order: parameter name → lexical value and the element it came in. */
  params: { name: string; element: string; value: string | undefined }[];
  form: boolean;
}

export function parseSet(set: Element, maxParams = Infinity): ParsedSet {
  const nodeIds: string[] = [];
  const params: ParsedSet['params'] = [];
  let form = false;
  const tooMany = () => new ParamError('', 'policy-violation', `over limits.parametersPerSet (${maxParams})`);
  for (const child of set.getChildElements()) {
    if (params.length > maxParams) throw tooMany();
    if (child.name === 'node') {
      const nodeId = child.attrs.nodeId as string | undefined;
      if (!nodeId) throw new ParamError('', 'bad-request', 'node without nodeId');
      nodeIds.push(nodeId);
    } else if (child.name === 'x' && child.attrs.xmlns === NS.dataForms) {
      if (child.attrs.type !== 'submit')
        throw new ParamError('', 'bad-request', 'a form in set must be of type submit');
      const formType = formTypeProblem(child, NS.control);
      if (formType) throw new ParamError('', 'bad-request', formType);
      form = true;
      for (const field of child.getChildren('field')) {
        const name = field.attrs.var as string | undefined;
        const value = field.getChildText('value');
        // Fields sent without a value were not filled in: nothing to apply (clients like Gajim send them all).
        if (!name || name === 'FORM_TYPE' || field.attrs.type === 'hidden' || value === null) continue;
        params.push({ name, element: 'form', value });
        if (params.length > maxParams) throw tooMany();
      }
    } else {
      const name = child.attrs.name as string | undefined;
      if (!name) throw new ParamError('', 'bad-request', `<${quote(child.name)}> without name`);
      params.push({ name, element: child.name, value: child.attrs.value as string | undefined });
    }
  }
  if (params.length > maxParams) throw tooMany();
  return { nodeIds, params, form };
}

export class AggregateParamError extends Error {
  constructor(readonly errors: ParamError[]) {
    super(errors.map((e) => `${e.param}: ${e.message}`).join('; '));
  }
}

function lexical(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/** The XEP-0004 form for a set of parameters, in write order. */
export function controlForm(
  specs: readonly ControlSpec[],
  currentValue: (spec: ControlSpec) => unknown,
): Element {
  return xml(
    'x',
    { xmlns: NS.dataForms, type: 'form' },
    xml('title', {}, 'Control parameters'),
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS.control)),
    ...specs.map((spec) => {
      const value = lexical(currentValue(spec));
      const type = spec.type === 'boolean' ? 'boolean' : spec.options ? 'list-single' : 'text-single';
      const validate = xml(
        'validate',
        { xmlns: NS_XDATA_VALIDATE, datatype: XS_DATATYPE[spec.type] },
        spec.min !== undefined || spec.max !== undefined
          ? xml('range', {
              ...(spec.min !== undefined ? { min: String(spec.min) } : {}),
              ...(spec.max !== undefined ? { max: String(spec.max) } : {}),
            })
          : spec.type === 'color'
            ? xml('regex', {}, '^[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$')
            : xml('basic'),
      );
      return xml(
        'field',
        { var: spec.name, type, label: spec.description },
        ...(value !== undefined
          ? [xml('value', {}, value === 'true' || value === 'false' ? (value === 'true' ? '1' : '0') : value)]
          : []),
        ...(spec.options ?? []).map((o) => xml('option', { label: o }, xml('value', {}, o))),
        validate,
        xml('notSame', { xmlns: NS_XDATA_DYNAMIC }),
      );
    }),
  );
}
