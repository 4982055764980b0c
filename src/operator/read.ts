/** `xiot read`: XEP-0323 readouts of one or more agents, momentary or from their history. */
import { IotError } from '../core/errors.js';
import { FIELD_TYPE_FLAGS, type FieldTypeFlag } from '../model/fields.js';
import { type ReadoutParams, type Truncation } from './sensor-client.js';
import { formatTable } from './table.js';
import { registryOf, searchAll, tagConditions } from './things.js';
import { EXIT, UsageError } from './usage.js';
import {
  type Io,
  parse,
  duration,
  time,
  connect,
  resolve,
  fieldRows,
  fanOut,
  exitFor,
  reportErrors,
  help,
} from './session.js';

export async function cmdRead(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    node: { type: 'string', multiple: true },
    field: { type: 'string', multiple: true },
    types: { type: 'string' },
    historical: { type: 'boolean' },
    from: { type: 'string' },
    to: { type: 'string' },
    tag: { type: 'string', multiple: true },
    registry: { type: 'string' },
    concurrency: { type: 'string' },
  });
  if (values.help) return help(io, 'read');
  const byTag = values.tag !== undefined;
  if (!byTag && positionals.length === 0)
    throw new UsageError('read needs at least one JID, or --tag NAME=VALUE');
  if (byTag && positionals.length)
    throw new UsageError('read: JIDs or --tag, not both (--tag reads every thing the registry finds)');
  const conditions = byTag ? tagConditions(values.tag ?? []) : [];
  const registry = byTag ? registryOf(values, io, 'read --tag') : undefined;
  const concurrency = Number(values.concurrency ?? '8');
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000)
    throw new UsageError(`--concurrency: expected an integer from 1 to 1000, got "${values.concurrency}"`);
  const types = (values.types?.split(',').map((t) => t.trim()) ?? []) as FieldTypeFlag[];
  for (const t of types)
    if (!FIELD_TYPE_FLAGS.includes(t)) throw new UsageError(`--types: unknown field type "${t}"`);
  if (values.historical && !types.includes('historicalOther')) types.push('historicalOther');
  if ((values.from || values.to) && !values.historical)
    throw new UsageError('--from and --to go with --historical');
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const params: ReadoutParams = {
    types: types.length ? types : ['momentary'],
    ...(values.node ? { nodes: values.node } : {}),
    ...(values.field ? { fields: values.field } : {}),
    ...(time('from', values.from) ? { from: time('from', values.from) as Date } : {}),
    ...(time('to', values.to) ? { to: time('to', values.to) as Date } : {}),
    timeoutMs,
  };
  const session = await connect(values, io, timeoutMs, positionals);
  try {
    let jids = positionals;
    if (registry) {
      jids = (await searchAll(session, registry, conditions, timeoutMs)).map((t) => t.jid);
      if (jids.length === 0) {
        io.stderr.write(`xiot: no thing in ${registry} has ${(values.tag ?? []).join(' and ')}\n`);
        if (values.json) io.stdout.write('[]\n');
        return EXIT.failed;
      }
    }
    const results = await fanOut(
      io,
      jids,
      'reading',
      async (jid) => {
        const full = await resolve(session, jid);
        const r = await session.sensors.readout(full, params);
        if (r.fields.length === 0 && r.failures.length)
          throw new IotError('IOT_ERR_DEVICE', r.failures.map((f) => `${f.nodeId}: ${f.message}`).join('; '));
        return {
          jid: full,
          fields: r.fields,
          failures: r.failures,
          ...(r.truncated ? { truncated: r.truncated } : {}),
        };
      },
      concurrency,
    );
    const rows = results.flatMap((r) => (r.ok ? fieldRows(r.value.jid, r.value.fields) : []));
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify(results.map((r) => (r.ok ? { ok: true, ...r.value, fields: fieldRows(r.value.jid, r.value.fields) } : r)))}\n`,
      );
    } else {
      const multi = jids.length > 1;
      io.stdout.write(
        formatTable(rows, [...(multi ? ['jid'] : []), 'node', 'field', 'value', 'unit', 'time', 'types']),
      );
      for (const r of results)
        if (r.ok)
          for (const f of r.value.failures) io.stderr.write(`xiot: ${r.jid} ${f.nodeId}: ${f.message}\n`);
    }
    reportErrors(io, results);
    // A cut history is a complete answer to a request that asked for too much, not a failure: exit 0 (scripts
    // keep what they got; `truncated` is in the JSON), with a notice on stderr so stdout stays parseable.
    for (const r of results)
      if (r.ok && r.value.truncated)
        io.stderr.write(`xiot: ${cutNotice(r.jid, r.value.truncated, values.to)}\n`);
    return exitFor(results);
  } finally {
    await session.close();
  }
}

function cutNotice(jid: string, cut: Truncation, to: string | undefined): string {
  const what = `${jid}: the agent cut this history${cut.limit !== undefined ? ` at ${cut.limit} readings` : ''}`;
  if (!cut.resume) return `${what}; ask for a shorter period (--from/--to)`;
  return `${what}; the rest: xiot read ${jid} --historical --from ${cut.resume}${to ? ` --to ${to}` : ''}`;
}
