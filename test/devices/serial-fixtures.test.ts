/**
 * Golden fixtures for the serial device types: bytes in (as the port delivers them, chunk by chunk) → readings
 * out, through each definition's real source with a fake link. Every fixture is also replayed as one chunk and
 * one byte at a time: chunk boundaries must never change the result.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import lineSerial from '../../devices/line_serial.js';
import { MHZ19_READ_CO2 } from '../../devices/mhz19.js';
import type { Logger } from '../../src/core/logger.js';
import { silentLogger } from '../../src/core/logger.js';
import { createFixedFrameSplitter, createLineSplitter, negSum8 } from '../../src/sdk/frames.js';
import type {
  DeviceDefinition,
  Hal,
  SerialLink,
  SerialLinkFactory,
  SourceContext,
  Values,
} from '../../src/sdk/index.js';
import { parseOptions, validate } from '../../src/sdk/options.js';

const ROOT = new URL('./fixtures/', import.meta.url);
const SERIAL_TYPES = ['line_serial', 'sds011', 'pms5003', 'mhz19', 'nmea_gps'];

interface Fixture {
  description: string;
  options?: Record<string, unknown>;
  /** Requests the device must write first (request/response devices). */
  request?: string;
  chunks: ({ hex: string } | { text: string })[];
  readings?: Values[];
  frameErrors?: number;
  /** Request/response devices: the error code the read fails with. */
  error?: string;
}

const toBytes = (chunk: { hex: string } | { text: string }): Uint8Array =>
  'hex' in chunk
    ? Uint8Array.from(Buffer.from(chunk.hex.replace(/\s+/g, ''), 'hex'))
    : Buffer.from(chunk.text, 'latin1');

/** A link whose bytes the test delivers; `written` records what the device sent. */
function fakeSerial(chunksAfterWrite?: Uint8Array[]) {
  const written: Uint8Array[] = [];
  let data: ((chunk: Uint8Array) => void) | undefined;
  let closed = 0;
  const link: SerialLink = {
    path: '/dev/fake',
    onData(l) {
      data = l;
      return () => {
        data = undefined;
      };
    },
    onClose: () => () => undefined,
    async write(bytes) {
      written.push(bytes);
      if (chunksAfterWrite)
        setTimeout(() => {
          for (const c of chunksAfterWrite) data?.(c);
        }, 1);
    },
    async close() {
      closed++;
      data = undefined;
    },
  };
  const factory: SerialLinkFactory = { open: async () => link };
  return { factory, written, deliver: (c: Uint8Array) => data?.(c), closed: () => closed };
}

function recordingLogger() {
  const calls: { level: string; msg: string | undefined }[] = [];
  const log: Logger = {
    trace: () => undefined,
    debug: () => undefined,
    info: (_o, msg) => calls.push({ level: 'info', msg }),
    warn: (_o, msg) => calls.push({ level: 'warn', msg }),
    error: (_o, msg) => calls.push({ level: 'error', msg }),
    child: () => log,
  };
  return { log, calls };
}

function definition(type: string): DeviceDefinition<Record<string, unknown>> {
  // line_serial is listed explicitly until devices/index.ts registers it (its fields depend on its options).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- definitions differ in their option types
  const all: DeviceDefinition<any>[] = [...builtinDevices, lineSerial];
  const def = all.find((d) => d.type === type);
  if (!def) throw new Error(`no device type ${type}`);
  return def;
}

function context(
  def: DeviceDefinition<Record<string, unknown>>,
  fixture: Fixture,
  serial: SerialLinkFactory,
  log = silentLogger(),
) {
  const options = parseOptions(def.options, { port: '/dev/fake', ...(fixture.options ?? {}) });
  const ctx: SourceContext<Record<string, unknown>> = {
    deviceId: 'dut',
    options,
    hal: { files: {} as Hal['files'], serial },
    log,
    signal: new AbortController().signal,
  };
  return ctx;
}

/** Streams the chunks through the definition's source; returns the readings and the last frameErrors seen. */
async function runStream(type: string, fixture: Fixture, chunks: Uint8Array[], log?: Logger) {
  const def = definition(type);
  if (def.source.kind === 'poll') throw new Error(`${type} is polled`);
  const serial = fakeSerial();
  const readings: Values[] = [];
  const failures: Error[] = [];
  const handle = await def.source.start(
    context(def, fixture, serial.factory, log),
    (v) => readings.push(v),
    (e) => failures.push(e),
  );
  for (const c of chunks) serial.deliver(c);
  await handle.stop();
  expect(serial.closed()).toBe(1);
  expect(failures).toEqual([]);
  const frameErrors = readings.at(-1)?.frameErrors;
  return { readings: readings.map(({ frameErrors: _, ...v }) => v), frameErrors };
}

/** Numbers compare to 9 digits: decimal degrees and unit conversions are computed, not copied. */
function approx(values: Values[]): unknown[] {
  return values.map((v) =>
    Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, typeof x === 'number' ? expect.closeTo(x, 9) : x]),
    ),
  );
}

function fixturesOf(type: string): [string, Fixture][] {
  const dir = new URL(`${type}/`, ROOT);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as Fixture]);
}

describe('serial device fixtures', () => {
  it('exist for every serial device type, with a bad-checksum (or bad-line) and a split case each', () => {
    for (const type of SERIAL_TYPES) {
      const names = fixturesOf(type).map(([n]) => n);
      expect(
        names.some((n) => /bad/.test(n)),
        `${type} needs a bad-frame fixture`,
      ).toBe(true);
      expect(
        names.some((n) => /split/.test(n)),
        `${type} needs a split-frame fixture`,
      ).toBe(true);
    }
  });

  for (const type of SERIAL_TYPES) {
    describe(type, () => {
      for (const [name, fixture] of fixturesOf(type)) {
        const chunks = fixture.chunks.map(toBytes);
        if (definition(type).source.kind === 'poll') {
          it(`${name}: ${fixture.description}`, async () => {
            const def = definition(type);
            if (def.source.kind !== 'poll') throw new Error('unreachable');
            const serial = fakeSerial(chunks);
            const read = def.source.read(context(def, fixture, serial.factory));
            if (fixture.error) await expect(read).rejects.toMatchObject({ code: fixture.error });
            else expect(await read).toEqual(approx(fixture.readings ?? [])[0]);
            expect(Buffer.concat(serial.written).toString('hex')).toBe(
              (fixture.request ?? '').replace(/\s+/g, ''),
            );
            expect(serial.closed(), 'the port is closed after every read').toBe(1);
          });
          continue;
        }
        it(`${name}: ${fixture.description}`, async () => {
          const result = await runStream(type, fixture, chunks);
          expect(result.readings).toEqual(approx(fixture.readings ?? []));
          expect(result.frameErrors).toBe(fixture.frameErrors ?? 0);
        });
        it(`${name}: gives the same readings as one chunk and byte by byte`, async () => {
          const all = Buffer.concat(chunks);
          const expected = await runStream(type, fixture, chunks);
          expect(await runStream(type, fixture, [all])).toEqual(expected);
          expect(
            await runStream(
              type,
              fixture,
              [...all].map((b) => Uint8Array.of(b)),
            ),
          ).toEqual(expected);
        });
      }
    });
  }
});

describe('line_serial fields', () => {
  const def = definition('line_serial');
  const fieldsFor = (options: unknown) => {
    const parsed = parseOptions(def.options, options);
    return typeof def.fields === 'function' ? def.fields(parsed) : def.fields;
  };

  it('come from the values option, typed, with a unit on every numeric one, plus frameErrors', () => {
    const fields = fieldsFor({ values: { temp: { unit: '°C' }, rh: {}, door: { type: 'boolean' } } });
    expect(fields.map((f) => [f.name, f.type, f.unit])).toEqual([
      ['temp', 'numeric', '°C'],
      ['rh', 'numeric', ''],
      ['door', 'boolean', undefined],
      ['frameErrors', 'numeric', ''],
    ]);
  });

  it('need at least one value, and never one called frameErrors', () => {
    expect(validate(def.options, {}).ok).toBe(false);
    expect(validate(def.options, { values: {} }).ok).toBe(false);
    expect(validate(def.options, { values: { frameErrors: {} } }).ok).toBe(false);
  });
});

describe('bad frames', () => {
  const good = Buffer.from('aac0d4043a0aa1601dab', 'hex');
  const bad = Buffer.from('aac0d4043a0aa1601eab', 'hex');

  it('are logged once when they start and once on recovery, not once per frame', async () => {
    const { log, calls } = recordingLogger();
    const result = await runStream(
      'sds011',
      { description: '', chunks: [] },
      [good, bad, bad, bad, good, good, bad, bad, good],
      log,
    );
    expect(result.readings).toHaveLength(4);
    expect(result.frameErrors).toBe(5);
    expect(calls.map((c) => c.level)).toEqual(['warn', 'info', 'warn', 'info']);
  });

  it('never reach the runner as a reading, however many arrive', async () => {
    const result = await runStream('sds011', { description: '', chunks: [] }, Array(50).fill(bad));
    expect(result.readings).toEqual([]);
  });
});

describe('frame splitters', () => {
  it('drop an over-long line as one error and resume at the next line', () => {
    const s = createLineSplitter({ maxLength: 8 });
    expect(s.push(Buffer.from('0123456789'))).toEqual([{ error: 'line longer than 8 characters' }]);
    expect(s.push(Buffer.from('abcdef\nok\n'))).toEqual([{ frame: 'ok' }]);
  });

  it('wait for a length word before deciding a frame length', () => {
    const s = createFixedFrameSplitter({
      header: [0x42, 0x4d],
      length: (head) => (head.length < 4 ? undefined : 4 + ((head[2] as number) << 8) + (head[3] as number)),
      check: () => undefined,
    });
    expect(s.push(Uint8Array.of(0x42, 0x4d, 0x00))).toEqual([]);
    expect(s.push(Uint8Array.of(0x01, 0x07))).toEqual([
      { frame: Uint8Array.of(0x42, 0x4d, 0x00, 0x01, 0x07) },
    ]);
  });

  it('compute the MH-Z19 checksum the sensor expects for its read command', () => {
    expect(negSum8(MHZ19_READ_CO2, 1, 8)).toBe(0x79);
    expect(MHZ19_READ_CO2[8]).toBe(0x79);
  });
});
