/** `xiot things`: search a thing registry (XEP-0347). */
import { xml } from '@xmpp/client';
import { NS_DISCOVERY } from '../iot/discovery.js';
import { connect, duration, help, type Io, parse, type Session } from './session.js';
import { formatTable } from './table.js';
import { EXIT, UsageError } from './usage.js';
import { findAccountAddress } from '../xmpp/peer-address.js';

/** The registry for things/disown: --registry, else XIOT_REGISTRY. */
export function registryOf(values: { registry?: string }, io: Io, command: string): string {
  const registry = values.registry ?? io.env.XIOT_REGISTRY;
  if (!registry) throw new UsageError(`${command} needs --registry JID (or XIOT_REGISTRY)`);
  return registry;
}

/** `xiot things`: XEP-0347 search; `--tag NAME=VALUE` (strEq) or `--tag '#NAME=NUMBER'` (numEq), AND-combined. */
export async function cmdThings(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    registry: { type: 'string' },
    tag: { type: 'string', multiple: true },
    offset: { type: 'string' },
    max: { type: 'string' },
  });
  if (values.help) return help(io, 'things');
  if (positionals.length) throw new UsageError('things takes no positional arguments (xiot things --help)');
  const registry = registryOf(values, io, 'things');
  const conditions = tagConditions(values.tag ?? []);
  const count = (flag: string, raw: string | undefined) => {
    if (raw === undefined) return {};
    if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag}: expected a non-negative integer, got "${raw}"`);
    return { [flag === 'max' ? 'maxCount' : flag]: raw };
  };
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs);
  try {
    const { things, more } = await searchPage(
      session,
      registry,
      conditions,
      { ...count('offset', values.offset), ...count('max', values.max) },
      timeoutMs,
    );
    if (values.json) io.stdout.write(`${JSON.stringify({ things, more })}\n`);
    else {
      io.stdout.write(
        formatTable(
          things.map((t) => ({
            ...t,
            tags: Object.entries(t.tags)
              .map(([k, v]) => `${k}=${v}`)
              .join(' '),
          })),
          ['jid', 'owner', 'tags'],
        ),
      );
      if (more) io.stdout.write('(more: use --offset)\n');
    }
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

/** `--tag NAME=VALUE` (strEq) or `--tag '#NAME=NUMBER'` (numEq) as XEP-0347 search operators (AND-combined). */
export interface TagCondition {
  op: 'strEq' | 'numEq';
  name: string;
  value: string;
}

export function tagConditions(tags: readonly string[]): TagCondition[] {
  return tags.map((t) => {
    const at = t.indexOf('=');
    if (at <= 0) throw new UsageError(`--tag: expected NAME=VALUE, got "${t}"`);
    const num = t.startsWith('#');
    const name = t.slice(num ? 1 : 0, at);
    const value = t.slice(at + 1);
    if (num && !Number.isFinite(Number(value)))
      throw new UsageError(`--tag ${t}: "${value}" is not a number`);
    return { op: num ? 'numEq' : 'strEq', name, value } as TagCondition;
  });
}

export interface FoundThing {
  jid: string;
  owner: string;
  tags: Record<string, string | number>;
}

/** One XEP-0347 search request (one page). */
export async function searchPage(
  session: Session,
  registry: string,
  conditions: readonly TagCondition[],
  paging: { offset?: string; maxCount?: string },
  timeoutMs: number,
): Promise<{ things: FoundThing[]; more: boolean }> {
  const answer = await session.transport.request(
    xml(
      'iq',
      // An account hub answers at its full JID only (found by directed presence); a component at its domain.
      { type: 'get', to: await findAccountAddress(session.transport, registry, timeoutMs) },
      xml(
        'search',
        { xmlns: NS_DISCOVERY, ...paging },
        ...conditions.map((c) => xml(c.op, { name: c.name, value: c.value })),
      ),
    ),
    timeoutMs,
  );
  const found = answer.getChild('found', NS_DISCOVERY);
  const things = (found?.getChildren('thing') ?? []).map((t) => ({
    jid: t.attrs.jid as string,
    owner: t.attrs.owner as string,
    tags: Object.fromEntries(
      t
        .getChildElements()
        .map((tag) => [
          tag.attrs.name as string,
          tag.name === 'num' ? Number(tag.attrs.value) : (tag.attrs.value as string),
        ]),
    ),
  }));
  return { things, more: found?.attrs.more === 'true' };
}

/** Every thing matching `conditions`, page after page (at most `max`; a registry that never ends cannot loop us). */
export async function searchAll(
  session: Session,
  registry: string,
  conditions: readonly TagCondition[],
  timeoutMs: number,
  max = 10_000,
): Promise<FoundThing[]> {
  const all: FoundThing[] = [];
  for (;;) {
    const { things, more } = await searchPage(
      session,
      registry,
      conditions,
      { offset: String(all.length) },
      timeoutMs,
    );
    all.push(...things);
    if (!more || things.length === 0 || all.length >= max) return all.slice(0, max);
  }
}
