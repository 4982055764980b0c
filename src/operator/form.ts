/** `xiot form`: a device's XEP-0325 control form, with types, ranges and current values. */
import { formatTable } from './table.js';
import { EXIT, UsageError } from './usage.js';
import { type Io, parse, duration, connect, resolve, help } from './session.js';

export async function cmdForm(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { node: { type: 'string', multiple: true } });
  if (values.help) return help(io, 'form');
  if (positionals.length !== 1) throw new UsageError('form needs exactly one JID');
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs, positionals);
  try {
    const full = await resolve(session, positionals[0] as string);
    const fields = (await session.control.getForm(full, values.node ?? [])).filter(
      (f) => f.type !== 'hidden',
    );
    const rows = fields.map((f) => ({
      parameter: f.var,
      datatype: f.datatype ?? '',
      range:
        f.min !== undefined || f.max !== undefined ? `${f.min ?? ''}..${f.max ?? ''}` : f.options.join('|'),
      value: f.value ?? '',
      label: f.label ?? '',
    }));
    io.stdout.write(
      values.json
        ? `${JSON.stringify(rows)}\n`
        : formatTable(rows, ['parameter', 'datatype', 'range', 'value', 'label']),
    );
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
