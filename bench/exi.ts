/**
 * EXI sizes and speed for typical stanzas: XML vs DEFLATE vs EXI schema-less vs schema-informed; then bytes per
 * stanza over a session (XEP-0322 sessionWideBuffers against per-stanza and XEP-0138 stream deflate).
 *   npm run build && node dist/bench/exi.js            (prints a markdown table)
 * Uses the reference documents of /work/shared/exi-vectors/ when present, plus stanzas built here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createDeflate, deflateRawSync, constants as zlibConstants } from 'node:zlib';
import { createExiSession, decode, encode, parseXml, serializeXml, IOT_SCHEMA_IDS, schemaSet } from 'exi4js';

/** Schema-informed columns: the schema set the XEP-0322 binding agrees (envelope, pubsub, IoT). */
const allSchemas = schemaSet(IOT_SCHEMA_IDS);

const VECTORS = '/work/shared/exi-vectors/';
const SD = 'urn:xmpp:iot:sensordata';

const builtIn: Record<string, string> = {
  'accepted (built here)': `<iq xmlns='jabber:client' type='result' id='r8' to='client@example.org/dash'><accepted xmlns='${SD}' seqnr='44'/></iq>`,
  'fields, 3 values (built here)':
    `<message xmlns='jabber:client' from='probe7@iot.example.org/agent' to='hub@example.org/core' id='m1'>` +
    `<fields xmlns='${SD}' seqnr='1' done='true'><node nodeId='probe7'><timestamp value='2026-03-01T10:15:00.000Z'>` +
    `<numeric name='Temperature' momentary='true' automaticReadout='true' value='21.5' unit='°C'/>` +
    `<numeric name='Humidity' momentary='true' automaticReadout='true' value='43.2' unit='%'/>` +
    `<boolean name='Occupied' momentary='true' automaticReadout='true' value='true'/>` +
    `</timestamp></node></fields></message>`,
};

const docs: [string, string][] = Object.entries(builtIn);
for (const name of [
  'sd-req-momentary',
  'sd-fields-1',
  'ps-event',
  'sd-fields-8',
  'sd-fields-50',
  'ctl-set-typed',
]) {
  const path = `${VECTORS}${name}.xml`;
  if (existsSync(path)) docs.push([name, readFileSync(path, 'utf8')]);
}

/** XML without insignificant whitespace. */
function compactXml(src: string): string {
  return serializeXml(parseXml(src).filter((e) => !(e.type === 'CH' && e.value.trim() === '')));
}

/** Warm-up, then best of 5 batches of 3,000 calls: the minimum batch mean in µs (this shared 2-core VM is noisy). */
const WARMUP = 5000;
const BATCHES = 5;
const BATCH = 3000;
function time(fn: () => void): number {
  for (let i = 0; i < WARMUP; i++) fn();
  let best = Number.POSITIVE_INFINITY;
  for (let b = 0; b < BATCHES; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / BATCH / 1000);
  }
  return best;
}

console.log(
  `Speed: µs per call, XML text in and bytes out (encode), bytes in and XML text out (decode); ${WARMUP} warm-up calls, ` +
    `then the best of ${BATCHES} batches of ${BATCH} calls (minimum batch mean).`,
);
console.log();
console.log(
  '| document | XML | deflate | EXI | EXI + compression | EXI schema | EXI schema + compression | encode µs (schema-less / schema) | decode µs (schema-less / schema) |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [name, src] of docs) {
  const compact = compactXml(src);
  const schema = allSchemas;
  const o = { dropIgnorableWhitespace: true } as const;
  const informed = encode(src, { ...o, schema });
  const plain = encode(src, o);
  const cols = [
    Buffer.byteLength(compact),
    deflateRawSync(compact).length,
    encode(src, o).length,
    encode(src, { ...o, alignment: 'compression' }).length,
    informed.length,
    encode(src, { ...o, schema, alignment: 'compression' }).length,
    `${time(() => encode(src, o)).toFixed(0)} / ${time(() => encode(src, { ...o, schema })).toFixed(0)}`,
    `${time(() => decode(plain)).toFixed(0)} / ${time(() => decode(informed, { schema })).toFixed(0)}`,
  ];
  console.log(`| ${name} | ${cols.join(' | ')} |`);
}

// ---------------------------------------------------------------------------------------------
// Over a session: a realistic repeating sequence of stanzas, one EXI body each (XEP-0322).

/** The `cycle`-th copy of a document: new seqnr, stanza id, timestamp and numeric values, as in a real readout. */
function cycleDoc(src: string, cycle: number): string {
  let s = src.replace(/seqnr='\d+'/g, `seqnr='${100 + cycle}'`);
  s = s.replace(/^(<[^>]*?\sid=')([^']*)'/, (_m, head: string, id: string) => `${head}${id}-${cycle}'`);
  s = s.replace(
    /(<timestamp value='\d{4}-\d\d-\d\dT\d\d:)(\d\d):(\d\d)/g,
    (_m, head: string, min: string) =>
      `${head}${String((Number(min) + cycle) % 60).padStart(2, '0')}:${String((cycle * 13) % 60).padStart(2, '0')}`,
  );
  // readings wander: about a hundred different values per field
  return s.replace(
    /(<numeric [^>]*?value=')([-\d.]+)'/g,
    (_m, head: string, v: string) => `${head}${(Number(v) + ((cycle * 37) % 97) / 100).toFixed(2)}'`,
  );
}

/** XEP-0138 zlib stream compression: one zlib stream, Z_SYNC_FLUSH after each stanza; bytes each flush emits. */
async function streamDeflateSizes(stanzas: readonly string[]): Promise<number[]> {
  const z = createDeflate();
  let pending = 0;
  z.on('data', (chunk: Buffer) => {
    pending += chunk.length;
  });
  const sizes: number[] = [];
  for (const s of stanzas) {
    z.write(s);
    await new Promise<void>((resolve) => z.flush(zlibConstants.Z_SYNC_FLUSH, () => resolve()));
    sizes.push(pending);
    pending = 0;
  }
  z.end();
  return sizes;
}

const byName = new Map(docs);
const cycleKinds: [string, string | undefined][] = [
  ['accepted iq', byName.get('accepted (built here)')],
  ['fields message, 3 values', byName.get('fields, 3 values (built here)')],
  ['pubsub event, 1 value', byName.get('ps-event')],
];
const CYCLES = 20;
const sequence: { kind: string; xml: string }[] = [];
for (let c = 0; c < CYCLES; c++) {
  for (const [kind, src] of cycleKinds) if (src) sequence.push({ kind, xml: compactXml(cycleDoc(src, c)) });
}
const sd = allSchemas;
// What the binding uses (src/xmpp/exi-connection.ts): no local value partitions (XEP-0322's default), and with
// sessionWideBuffers bounded string tables.
const binding = { localValuePartitions: false } as const;
const limits = { ...binding, valueMaxLength: 64, valuePartitionCapacity: 256 } as const;
const plainSession = createExiSession(limits);
const informedSession = createExiSession({ ...limits, schema: sd });
const stream = await streamDeflateSizes(sequence.map((s) => s.xml));
const columns = [
  'XML',
  'deflate per stanza',
  'stream deflate (XEP-0138, sync flush)',
  'EXI schema-less per stanza',
  'EXI schema-less session-wide',
  'EXI schema-informed per stanza',
  'EXI schema-informed session-wide',
];
const rows = new Map<string, number[][]>();
sequence.forEach(({ kind, xml }, i) => {
  // EXI: bodies as XEP-0322 sends them (the stream's one-byte header is not counted)
  const sizes = [
    Buffer.byteLength(xml),
    deflateRawSync(xml).length,
    stream[i] as number,
    encode(xml, binding).length - 1,
    plainSession.encode(xml).length,
    encode(xml, { ...binding, schema: sd }).length - 1,
    informedSession.encode(xml).length,
  ];
  for (const key of [
    kind,
    `all ${sequence.length} stanzas`,
    ...(i < cycleKinds.length ? ['first cycle'] : []),
  ]) {
    const list = rows.get(key) ?? [];
    list.push(sizes);
    rows.set(key, list);
  }
});
console.log();
console.log(
  `Bytes per stanza over a session: ${CYCLES} readout cycles (${cycleKinds.map(([k]) => k).join(' + ')}), ` +
    'seqnr, ids, timestamps and values changing; averages.',
);
console.log();
console.log(`| stanzas | ${columns.join(' | ')} |`);
console.log(`|---|${columns.map(() => '---').join('|')}|`);
const order = [...cycleKinds.map(([k]) => k), 'first cycle', `all ${sequence.length} stanzas`];
for (const key of order) {
  const list = rows.get(key);
  if (!list) continue;
  const avg = columns.map((_, c) => list.reduce((n, sizes) => n + (sizes[c] as number), 0) / list.length);
  const xml = avg[0] as number;
  console.log(
    `| ${key} | ${avg.map((v, c) => (c === 0 ? v.toFixed(0) : `${v.toFixed(0)} (${Math.round((v / xml) * 100)} %)`)).join(' | ')} |`,
  );
}
