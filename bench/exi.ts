/**
 * EXI sizes and speed for typical stanzas: XML vs DEFLATE vs EXI schema-less vs schema-informed.
 *   npm run build && node dist/bench/exi.js            (prints a markdown table)
 * Uses the reference documents of /work/shared/exi-vectors/ when present, plus stanzas built here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { decode, encode, iotSchema, parseXml, serializeXml } from '../src/exi/index.js';

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

function time(fn: () => void): number {
  for (let i = 0; i < 1000; i++) fn();
  const n = 2000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / n / 1000;
}

console.log(
  '| document | XML | deflate | EXI | EXI + compression | EXI schema | EXI schema + compression | encode µs (schema-less / schema) | decode µs (schema-less / schema) |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [name, src] of docs) {
  const compact = serializeXml(parseXml(src).filter((e) => !(e.type === 'CH' && e.value.trim() === '')));
  const schema = iotSchema(name.startsWith('ctl') ? 'xep-0325.xsd' : 'xep-0323.xsd');
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
