/**
 * A generic text protocol for Arduino-style boards: one reading per line of `name=value` pairs separated by
 * spaces or commas (`temp=21.5,door=1`), ended by `\n` or `\r\n`. Which names are read, their types and units
 * come from the `values` option; other names on the line are ignored. A line that carries none of them, or a
 * value that does not parse as its type, is a frame error (noise, a wrong baud rate), never a reading.
 */
import { FrameError } from '../src/core/errors.js';
import { createLineSplitter, frameErrorsField, serialStreamSource } from '../src/sdk/frames.js';
import {
  type ControlSpec,
  type ControlValues,
  defineDevice,
  type FieldSpec,
  v,
  type Values,
} from '../src/sdk/index.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

const valueSpec = v.strictObject({
  type: v.optional(v.picklist(['numeric', 'int', 'boolean', 'string']), 'numeric'),
  /** Numeric values only ('' when unitless, the default). */
  unit: v.optional(v.string()),
  decimals: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(15))),
  description: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** Lines may leave it out without a warning. */
  optional: v.optional(v.boolean(), false),
});

const options = v.strictObject({
  port: v.optional(v.pipe(v.string(), v.minLength(1)), '/dev/ttyACM0'),
  baudRate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 9600),
  values: v.pipe(
    v.record(
      v.pipe(
        v.string(),
        v.regex(NAME, 'value names are letters, digits, "_", "." or "-", starting with a letter or "_"'),
      ),
      valueSpec,
    ),
    v.check((r) => Object.keys(r).length > 0, 'name at least one value'),
    v.check((r) => !('frameErrors' in r), '"frameErrors" is reported by the agent itself'),
  ),
  /**
   * Parameters the board accepts (XEP-0325), each written as its template with `{value}` replaced
   * (booleans as 1/0), e.g. `relay: { type: boolean, template: "RELAY {value}\\n" }`.
   */
  commands: v.optional(
    v.record(
      v.pipe(v.string(), v.regex(NAME, 'command names are letters, digits, "_", "." or "-"')),
      v.strictObject({
        type: v.picklist(['boolean', 'int', 'double', 'string']),
        template: v.pipe(
          v.string(),
          v.check((t) => t.includes('{value}'), 'the template must contain {value}'),
        ),
        min: v.optional(v.number()),
        max: v.optional(v.number()),
        options: v.optional(v.pipe(v.array(v.string()), v.minLength(1))),
        /** Longest value written into the template, in characters (below the agent's limits.stringLength). */
        maxLength: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65536))),
        /** The reported value this command sets (reported writable). */
        field: v.optional(v.string()),
        description: v.optional(v.pipe(v.string(), v.minLength(1))),
      }),
    ),
    {},
  ),
  /** Longest line accepted; longer ones are frame errors. */
  maxLineLength: v.optional(v.pipe(v.number(), v.integer(), v.minValue(16), v.maxValue(65536)), 512),
});

type LineSerialOptions = v.InferOutput<typeof options>;

const TRUE = new Set(['1', 'true', 'on', 'yes', 'high']);
const FALSE = new Set(['0', 'false', 'off', 'no', 'low']);

function parseValue(name: string, type: LineSerialOptions['values'][string]['type'], text: string) {
  switch (type) {
    case 'numeric': {
      const n = Number(text);
      if (text === '' || !Number.isFinite(n)) throw new FrameError(`${name}=${text} is not a number`);
      return n;
    }
    case 'int': {
      if (!/^[-+]?\d+$/.test(text)) throw new FrameError(`${name}=${text} is not an integer`);
      return Number(text);
    }
    case 'boolean': {
      const t = text.toLowerCase();
      if (TRUE.has(t)) return true;
      if (FALSE.has(t)) return false;
      throw new FrameError(`${name}=${text} is not a boolean`);
    }
    case 'string':
      return text;
  }
}

export function decodeLine(line: string, opts: Pick<LineSerialOptions, 'values'>): Values {
  const values: Values = {};
  let found = 0;
  for (const token of line.trim().split(/[\s,]+/)) {
    const eq = token.indexOf('=');
    if (eq <= 0) continue;
    const name = token.slice(0, eq);
    const spec = opts.values[name];
    if (!spec) continue;
    values[name] = parseValue(name, spec.type, token.slice(eq + 1));
    found++;
  }
  if (found === 0)
    throw new FrameError(`line without any configured value: ${JSON.stringify(line.slice(0, 80))}`);
  return values;
}

/** The command lines for validated parameters, in their order. */
export function encodeCommands(
  opts: Pick<LineSerialOptions, 'commands'>,
  values: ControlValues,
): Uint8Array[] {
  return Object.entries(values).map(([name, value]) => {
    const command = opts.commands[name];
    if (!command) throw new FrameError(`no command template for ${name}`);
    const text = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
    return Buffer.from(command.template.replaceAll('{value}', text), 'latin1');
  });
}

export default defineDevice({
  type: 'line_serial',
  description: 'Text lines of name=value pairs from a microcontroller board',
  options,
  example: {
    port: '/dev/ttyACM0',
    values: { temp: { type: 'numeric', unit: '°C', decimals: 1 }, door: { type: 'boolean' } },
  },
  fields: (opts: LineSerialOptions): FieldSpec[] => [
    ...Object.entries(opts.values).map(([name, v]): FieldSpec => ({
      name,
      type: v.type,
      ...(v.type === 'numeric' ? { unit: v.unit ?? '' } : {}),
      ...(v.decimals !== undefined ? { decimals: v.decimals } : {}),
      description: v.description ?? name,
      optional: v.optional,
    })),
    frameErrorsField,
  ],
  controls: (opts: LineSerialOptions): ControlSpec[] =>
    Object.entries(opts.commands).map(([name, c]) => ({
      name,
      type: c.type,
      description: c.description ?? name,
      ...(c.min !== undefined ? { min: c.min } : {}),
      ...(c.max !== undefined ? { max: c.max } : {}),
      ...(c.options ? { options: c.options } : {}),
      ...(c.maxLength !== undefined ? { maxLength: c.maxLength } : {}),
      ...(c.field ? { field: c.field } : {}),
    })),
  source: serialStreamSource<LineSerialOptions, string>({
    splitter: (opts) => createLineSplitter({ maxLength: opts.maxLineLength }),
    decoder: (opts) => (line) => decodeLine(line, opts),
    commands: (opts, values) => encodeCommands(opts, values),
  }),
});
