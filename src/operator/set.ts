/** `xiot set`: XEP-0325 sets, typed from the device's form when it has one. */
import type { ControlType } from '../sdk/index.js';
import { type ParameterValue } from '../iot/control-client.js';
import { UsageError } from './usage.js';
import {
  type Io,
  parse,
  duration,
  connect,
  resolve,
  fanOut,
  exitFor,
  reportErrors,
  help,
} from './session.js';

const DATATYPE_TO_TYPE: Record<string, ControlType> = {
  'xs:boolean': 'boolean',
  'xs:int': 'int',
  'xs:integer': 'long',
  'xs:long': 'long',
  'xs:double': 'double',
  'xs:decimal': 'double',
  'xs:string': 'string',
  'xs:date': 'date',
  'xs:time': 'time',
  'xs:dateTime': 'dateTime',
  'xs:duration': 'duration',
};

/** Without a form (slixmpp has none), guess the type from the value. */
function inferType(value: string): ControlType {
  if (/^(true|false|on|off)$/i.test(value)) return 'boolean';
  if (/^[+-]?\d+$/.test(value)) return 'int';
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/.test(value)) return 'double';
  return 'string';
}

function controlValue(type: ControlType, raw: string): ParameterValue['value'] {
  if (type === 'boolean') return /^(true|1|on|yes)$/i.test(raw);
  return raw;
}

export async function cmdSet(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    node: { type: 'string', multiple: true },
    message: { type: 'boolean' },
  });
  if (values.help) return help(io, 'set');
  const jids = positionals.filter((p) => !p.includes('='));
  const assignments = positionals.filter((p) => p.includes('='));
  if (jids.length === 0 || assignments.length === 0)
    throw new UsageError('set needs a JID and at least one name=value');
  const pairs = assignments.map((a) => {
    const i = a.indexOf('=');
    const name = a.slice(0, i);
    if (!name) throw new UsageError(`"${a}": expected name=value`);
    return { name, raw: a.slice(i + 1) };
  });
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const nodes = values.node ?? [];
  const session = await connect(values, io, timeoutMs, jids);
  try {
    const results = await fanOut(io, jids, 'setting', async (jid) => {
      const full = await resolve(session, jid);
      // The device's form says each parameter's type (XEP-0122 datatype); peers without getForm get a guess.
      const form = await session.control.getForm(full, nodes).catch(() => []);
      const params: ParameterValue[] = pairs.map(({ name, raw }) => {
        const datatype = form.find((f) => f.var === name)?.datatype;
        const type = (datatype && DATATYPE_TO_TYPE[datatype]) || inferType(raw);
        return { name, type, value: controlValue(type, raw) };
      });
      if (values.message) await session.control.setByMessage(full, params, { nodes });
      else await session.control.set(full, params, nodes);
      return {
        jid: full,
        applied: params.map((p) => ({ name: p.name, type: p.type, value: String(p.value) })),
      };
    });
    if (values.json) io.stdout.write(`${JSON.stringify(results)}\n`);
    else
      for (const r of results)
        if (r.ok)
          io.stdout.write(
            `${r.value.jid}: ${r.value.applied.map((p) => `${p.name}=${p.value}`).join(' ')}${values.message ? ' (sent)' : ''}\n`,
          );
    reportErrors(io, results);
    return exitFor(results);
  } finally {
    await session.close();
  }
}
