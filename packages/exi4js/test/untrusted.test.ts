/**
 * The decoder fed by a peer (docs/exi.md "Untrusted input"): bombs (DEFLATE, declared lengths, nesting, events,
 * string-table hits) stop with ExiLimitError before they cost memory; names, comments, PIs and characters that
 * XML cannot carry are decode errors, never text; and a seeded fuzzer (truncations, bit flips, random bytes of
 * the reference vectors and of binding streams) gets a document or an ExiError, never another exception.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { constants, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  decode,
  decodeEvents,
  ExiError,
  type ExiEvent,
  ExiLimitError,
  type ExiOptions,
  encode,
  iotSchemas,
  serializeXml,
} from '../src/index.js';
import { exiOptionsOf, rng, type VectorOptions } from './helpers.js';

const MiB = 1 << 20;

/** The options document of a compressed stream, then a DEFLATE stream of `mib` MiB of zero bytes (about 1 kB each). */
function deflateBomb(mib: number): Uint8Array {
  const withHeader = encode('<a/>', { alignment: 'compression', includeOptions: true });
  const plain = encode('<a/>', { alignment: 'compression' }); // 0x80 + the body
  const header = withHeader.subarray(0, withHeader.length - (plain.length - 1));
  // Full flushes make each MiB a byte-aligned, non-final block without back references: they concatenate.
  const block = deflateRawSync(Buffer.alloc(MiB), { finishFlush: constants.Z_FULL_FLUSH });
  const parts: Uint8Array[] = [header];
  for (let i = 0; i < mib; i++) parts.push(block);
  parts.push(Uint8Array.from([0x03, 0x00])); // final empty block
  return Buffer.concat(parts);
}

/** Resident set growth while `fn` runs (sampled each ms is not possible in sync code: before and after). */
function measure(fn: () => void): { ms: number; rssMB: number; error: unknown } {
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  return { ms: performance.now() - t0, rssMB: (process.memoryUsage().rss - rss0) / 1e6, error };
}

function limitOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof ExiLimitError) return e.limit;
    throw e;
  }
  return undefined;
}

function se(localName: string, uri = ''): ExiEvent {
  return { type: 'SE', uri, localName };
}

describe('EXI decoder limits (untrusted input)', () => {
  it('a 1 MiB DEFLATE bomb (1 GiB inflated) fails fast with maxDecodedBytes, memory bounded by the cap', () => {
    const bomb = deflateBomb(1024);
    expect(bomb.length).toBeGreaterThan(MiB);
    // Uncapped this took 13.3 s and 2.2 GB of RSS (issue 13); capped: tens of ms, about the cap.
    const m = measure(() => decode(bomb));
    expect(m.error).toBeInstanceOf(ExiLimitError);
    expect((m.error as ExiLimitError).code).toBe('IOT_ERR_EXI_LIMIT');
    expect((m.error as ExiLimitError).limit).toBe('maxDecodedBytes');
    expect(m.ms).toBeLessThan(2000);
    expect(m.rssMB).toBeLessThan(DEFAULT_LIMITS.maxDecodedBytes / 1e6 + 64);
    // A lower cap stops sooner; a higher one lets an honest large document through.
    expect(limitOf(() => decode(bomb, { limits: { maxDecodedBytes: 64 * 1024 } }))).toBe('maxDecodedBytes');
    const big = `<r>${'<v>0123456789</v>'.repeat(20_000)}</r>`;
    const bytes = encode(big, { alignment: 'compression' });
    expect(
      limitOf(() => decode(bytes, { alignment: 'compression', limits: { maxDecodedBytes: 100_000 } })),
    ).toBe('maxDecodedBytes');
    expect(decode(bytes, { alignment: 'compression' })).toBe(big);
  });

  it('a declared length of 2^31 characters is refused before anything is read or allocated', () => {
    // Byte-aligned: the value's length (3 + 2) and its three 'Q's are whole octets that can be replaced.
    const bytes = encode('<a>QQQ</a>', { alignment: 'byte-alignment' });
    const at = Buffer.from(bytes).indexOf(Buffer.from([5, 0x51, 0x51, 0x51]));
    expect(at).toBeGreaterThan(0);
    const huge = [0x82, 0x80, 0x80, 0x80, 0x08]; // 2^31 + 2
    const forged = Uint8Array.from([...bytes.subarray(0, at), ...huge, 0x51]);
    const m = measure(() => decode(forged, { alignment: 'byte-alignment' }));
    expect((m.error as ExiLimitError).limit).toBe('maxDecodedBytes');
    expect(m.ms).toBeLessThan(100);
    // Within the limit, but longer than the data: truncated, after reading what is there.
    const within = [0x82, 0x80, 0x40]; // 2^20 + 2
    const short = Uint8Array.from([...bytes.subarray(0, at), ...within, 0x51]);
    expect(() => decode(short, { alignment: 'byte-alignment' })).toThrow(/truncated/);
  });

  it('nesting deeper than maxDepth, and more events than maxEvents, are refused', () => {
    const deep = `${'<a>'.repeat(299)}<a/>${'</a>'.repeat(299)}`;
    const bytes = encode(deep);
    expect(limitOf(() => decode(bytes))).toBe('maxDepth');
    expect(decode(bytes, { limits: { maxDepth: 300 } })).toBe(deep);
    const schemaBytes = encode(deep, { schema: iotSchemas()['xep-0323.xsd'] });
    expect(limitOf(() => decode(schemaBytes, { schema: iotSchemas()['xep-0323.xsd'] }))).toBe('maxDepth');

    // Learned productions make an element a few bits: 300,000 of them in about 100 kB.
    const wide = `<r>${'<a/>'.repeat(150_000)}</r>`;
    const many = encode(wide);
    expect(many.length).toBeLessThan(100_000);
    expect(limitOf(() => decode(many))).toBe('maxEvents');
    expect(decode(many, { limits: { maxEvents: 400_000 } })).toBe(wide);
  });

  it('a long value repeated through the string table counts each time it is decoded', () => {
    const value = 'x'.repeat(10_000);
    const events: ExiEvent[] = [se('r')];
    for (let i = 0; i < 2_000; i++)
      events.push(se('a'), { type: 'AT', uri: '', localName: 'v', value }, { type: 'EE' });
    events.push({ type: 'EE' });
    const bytes = encode(events); // 20 M characters of values in about 12 kB: one literal, then compact ids
    expect(bytes.length).toBeLessThan(20_000);
    const m = measure(() => decode(bytes));
    expect((m.error as ExiLimitError).limit).toBe('maxDecodedBytes');
    expect(m.ms).toBeLessThan(1000);
  });

  it('string-table entries and learned productions are bounded (per body, and for a session its whole life)', () => {
    const names = `<r>${Array.from({ length: 200 }, (_, i) => `<n${i}/>`).join('')}</r>`;
    const bytes = encode(names);
    expect(limitOf(() => decode(bytes, { limits: { maxStringTableEntries: 100 } }))).toBe(
      'maxStringTableEntries',
    );
    expect(limitOf(() => decode(bytes, { limits: { maxLearnedProductions: 100 } }))).toBe(
      'maxLearnedProductions',
    );
    expect(decode(bytes)).toBe(names);
  });

  it('rejects limits that are not positive integers', () => {
    expect(() => decode(encode('<a/>'), { limits: { maxDepth: 0 } })).toThrow(/invalid maxDepth/);
    expect(() => decode(encode('<a/>'), { limits: { maxDepht: 3 } as ExiOptions['limits'] })).toThrow(
      /unknown/,
    );
  });
});

describe('decoded names, comments, PIs and characters (no markup injection)', () => {
  const injected = 'a x="1"/><injected/><b';

  it('an element name that is not an NCName is a decode error, never text', () => {
    const bytes = encode([se(injected), { type: 'EE' }]);
    for (const run of [() => decode(bytes), () => decodeEvents(bytes)]) {
      let err: unknown;
      try {
        run();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ExiError);
      expect((err as ExiError).code).toBe('IOT_ERR_EXI');
      expect((err as Error).message).toMatch(/not an XML NCName/);
    }
    // The same through every alignment, schema-informed, and for attribute names and prefixes.
    for (const alignment of ['bit-packed', 'byte-alignment', 'pre-compression', 'compression'] as const) {
      const b = encode([se('a'), { type: 'AT', uri: '', localName: 'x="1" y', value: 'v' }, { type: 'EE' }], {
        alignment,
      });
      expect(() => decode(b, { alignment })).toThrow(/NCName/);
    }
    const sd = iotSchemas()['xep-0323.xsd'];
    expect(() => decode(encode([se(injected), { type: 'EE' }], { schema: sd }), { schema: sd })).toThrow(
      /NCName/,
    );
    const prefixed = encode(
      [se('a', 'urn:x'), { type: 'NS', uri: 'urn:x', prefix: 'p"><x', localElementNs: true }, { type: 'EE' }],
      { preserve: { prefixes: true } },
    );
    expect(() => decode(prefixed, { preserve: { prefixes: true } })).toThrow(/prefix/);
  });

  it('comments with "--" or a final "-", PIs named xml or with "?>" in their data are decode errors', () => {
    const preserve = { comments: true, pis: true };
    const bad: ExiEvent[] = [
      { type: 'CM', text: ' a -- b ' },
      { type: 'CM', text: 'ends with -' },
      { type: 'PI', target: 'xml', data: 'version="1.0"' },
      { type: 'PI', target: 'XmL', data: '' },
      { type: 'PI', target: 'p', data: 'a ?><injected/><?q' },
      { type: 'PI', target: 'a b', data: '' },
    ];
    for (const e of bad) {
      const bytes = encode([se('r'), e, { type: 'EE' }], { preserve });
      expect(() => decode(bytes, { preserve }), JSON.stringify(e)).toThrow(ExiError);
      expect(() => serializeXml([se('r'), e, { type: 'EE' }]), JSON.stringify(e)).toThrow(ExiError);
    }
    const ok = encode(
      [se('r'), { type: 'CM', text: ' - a - ' }, { type: 'PI', target: 'p', data: 'x?y' }, { type: 'EE' }],
      {
        preserve,
      },
    );
    expect(decode(ok, { preserve })).toBe('<r><!-- - a - --><?p x?y?></r>');
  });

  it('characters XML 1.0 cannot carry are decode errors; "]]>", "<", "&" and CR are escaped', () => {
    for (const value of ['\u0000', 'a\u0001b', '\uFFFE', '\uD800x']) {
      const bytes = encode([se('r'), { type: 'CH', value }, { type: 'EE' }]);
      expect(() => decode(bytes), JSON.stringify(value)).toThrow(ExiError);
      expect(() =>
        serializeXml([se('r'), { type: 'AT', uri: '', localName: 'a', value }, { type: 'EE' }]),
      ).toThrow(ExiError);
    }
    const text = ']]><injected/>&\r';
    expect(decode(encode([se('r'), { type: 'CH', value: text }, { type: 'EE' }]))).toBe(
      '<r>]]&gt;&lt;injected/&gt;&amp;&#13;</r>',
    );
    expect(
      decode(
        encode([se('r'), { type: 'AT', uri: '', localName: 'a', value: `"/><injected a="` }, { type: 'EE' }]),
      ),
    ).toBe('<r a="&quot;/>&lt;injected a=&quot;"/>');
  });

  it('serializeXml refuses attributes that would read back as namespace declarations, and duplicates', () => {
    const at = (uri: string, localName: string): ExiEvent => ({
      type: 'AT',
      uri,
      localName,
      value: 'urn:evil',
    });
    expect(() => serializeXml([se('r', 'jabber:client'), at('', 'xmlns'), { type: 'EE' }])).toThrow(/xmlns/);
    expect(() => serializeXml([se('r'), at('http://www.w3.org/2000/xmlns/', 'p'), { type: 'EE' }])).toThrow(
      /xmlns/,
    );
    expect(() => serializeXml([se('r'), at('', 'a'), at('', 'a'), { type: 'EE' }])).toThrow(/duplicate/);
    const many = Array.from({ length: 20 }, (_, i) => at('', `a${i % 19}`));
    expect(() => serializeXml([se('r'), ...many, { type: 'EE' }])).toThrow(/duplicate/);
    expect(() =>
      serializeXml([
        se('r'),
        { type: 'NS', uri: 'urn:x', prefix: 'xml', localElementNs: false },
        { type: 'EE' },
      ]),
    ).toThrow(/namespace declaration/);
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzzing: seeded, a few seconds.

/** The reference vectors checked in with the package's tests (see vectors/README.md). */
const vectorsDir = [fileURLToPath(new URL('./vectors/', import.meta.url))].find((d) =>
  existsSync(`${d}vectors.json`),
);

interface Vector {
  exi: string;
  options: VectorOptions;
}

function vectorOptions(o: VectorOptions): ExiOptions {
  const opts: ExiOptions = { ...exiOptionsOf(o), schemas: iotSchemas() };
  if (o.schemaId !== null) opts.schemaId = o.schemaId;
  return opts;
}

/** Built here when the reference vectors are missing, so the fuzzer always has inputs. */
function builtInputs(): { bytes: Uint8Array; options: ExiOptions }[] {
  const docs = [
    `<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`,
    `<message xmlns='jabber:client' to='a@b' id='m'><body>hi &amp; &lt;there&gt;</body><x xmlns='urn:x' a='1' b='2'>t<y/>u</x></message>`,
  ];
  const out: { bytes: Uint8Array; options: ExiOptions }[] = [];
  for (const xml of docs) {
    for (const alignment of ['bit-packed', 'byte-alignment', 'pre-compression', 'compression'] as const) {
      out.push({ bytes: encode(xml, { alignment, includeOptions: true }), options: {} });
    }
  }
  return out;
}

function fuzzInputs(): { name: string; bytes: Uint8Array; options: ExiOptions }[] {
  if (vectorsDir === undefined) return builtInputs().map((x, i) => ({ name: `built-${i}`, ...x }));
  const { vectors } = JSON.parse(readFileSync(`${vectorsDir}vectors.json`, 'utf8')) as { vectors: Vector[] };
  return vectors.map((v) => ({
    name: v.exi,
    bytes: new Uint8Array(readFileSync(vectorsDir + v.exi)),
    options: vectorOptions(v.options),
  }));
}

/** Decodes and says how it ended; anything but a document or an ExiError fails the test. */
function outcome(run: () => unknown, what: string): 'ok' | 'exi' | 'limit' {
  try {
    run();
    return 'ok';
  } catch (e) {
    if (e instanceof ExiLimitError) return 'limit';
    if (e instanceof ExiError) return 'exi';
    throw new Error(`${what}: ${(e as Error).stack}`, { cause: e });
  }
}

describe('EXI fuzzing (seeded)', () => {
  it('truncations, bit flips and random bytes of every reference vector: a document or an ExiError', () => {
    const r = rng(13);
    const inputs = fuzzInputs();
    const counts = { ok: 0, exi: 0, limit: 0 };
    let slowest = 0;
    const rss0 = process.memoryUsage().rss;
    let rssPeak = rss0;
    const run = (bytes: Uint8Array, options: ExiOptions, what: string) => {
      const t0 = performance.now();
      counts[outcome(() => decode(bytes, options), what)]++;
      slowest = Math.max(slowest, performance.now() - t0);
    };
    for (const { name, bytes, options } of inputs) {
      // Truncations: every cut of a short vector, 32 cuts (evenly spread, then random) of a longer one.
      const cuts =
        bytes.length <= 128
          ? Array.from({ length: bytes.length }, (_, i) => i)
          : Array.from({ length: 32 }, (_, i) =>
              i < 16 ? Math.floor((i * bytes.length) / 16) : Math.floor(r() * bytes.length),
            );
      for (const cut of cuts) run(bytes.subarray(0, cut), options, `${name} cut at ${cut}`);
      // Bit flips: one to three bits, anywhere (header included).
      for (let k = 0; k < 20; k++) {
        const copy = Uint8Array.from(bytes);
        for (let f = 1 + Math.floor(r() * 3); f > 0; f--) {
          const at = Math.floor(r() * copy.length);
          copy[at] = (copy[at] as number) ^ (1 << Math.floor(r() * 8));
        }
        run(copy, options, `${name} flipped (${k})`);
      }
      // Random bytes after the vector's own first bytes (so the header usually survives).
      const keep = Math.min(bytes.length, 1 + Math.floor(r() * 8));
      const noise = Uint8Array.from({ length: 64 + Math.floor(r() * 512) }, () => Math.floor(r() * 256));
      run(Uint8Array.from([...bytes.subarray(0, keep), ...noise]), options, `${name} + noise`);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    // Pure noise, with each alignment given out of band.
    for (let k = 0; k < 400; k++) {
      const noise = Uint8Array.from({ length: 1 + Math.floor(r() * 1024) }, () => Math.floor(r() * 256));
      noise[0] = 0x80 | ((noise[0] as number) & 0x3f);
      const alignment = (['bit-packed', 'byte-alignment', 'pre-compression', 'compression'] as const)[k % 4];
      run(noise, { alignment, schemas: iotSchemas() }, `noise ${k}`);
    }
    if (process.env.EXI_FUZZ_REPORT) {
      const rss = (process.memoryUsage().rss - rss0) / 1e6;
      console.info({
        inputs: inputs.length,
        ...counts,
        slowestMs: slowest,
        rssPeakMB: (rssPeak - rss0) / 1e6,
        rss,
      });
    }
    expect(counts.ok + counts.exi + counts.limit).toBeGreaterThan(inputs.length * 20);
    expect(counts.exi).toBeGreaterThan(0);
    expect(slowest).toBeLessThan(2000);
    expect((rssPeak - rss0) / 1e6).toBeLessThan(256);
  });
});
