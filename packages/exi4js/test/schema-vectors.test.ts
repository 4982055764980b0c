/**
 * The schema-informed reference vectors (option set `schema-sd`, EXIficient with xep-0323.xsd,
 * strict=false, bit-packed, options in the header with schemaId "xep-0323.xsd"; see
 * vectors/README.md): every stream decodes to the expected document and our
 * encoder reproduces it byte for byte from the source XML.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  compileXsd,
  decode,
  decodeStream,
  ExiUnsupportedError,
  encode,
  iotSchema,
  canonicalXml,
} from '../src/index.js';

const dir = fileURLToPath(new URL('./vectors/', import.meta.url));
const manifestPath = `${dir}vectors.json`;
const isCI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

interface Vector {
  xml: string;
  exi: string;
  optionSet: string;
  options: { schemaId: string | null };
  header: { cookie: boolean; optionsInHeader: boolean };
}

const read = (name: string) => new Uint8Array(readFileSync(dir + name));

if (!existsSync(manifestPath)) {
  const message = `EXI reference vectors not found at ${dir} (expected vectors.json there)`;
  describe('EXI schema-informed reference vectors', () => {
    if (isCI) {
      it('are present (required under CI)', () => {
        throw new Error(message);
      });
    } else {
      it.skip(`skipped: ${message}`, () => {});
    }
  });
} else {
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { vectors: Vector[] };
  const vectors = manifest.vectors.filter((v) => v.optionSet === 'schema-sd');
  // The schema the vectors were made with, and our checked-in copy of it.
  const schema = compileXsd(readFileSync(`${dir}xep-0323.xsd`, 'utf8'), 'xep-0323.xsd');
  const schemas = { 'xep-0323.xsd': schema };
  const anonymous = compileXsd(readFileSync(`${dir}xep-0323.xsd`, 'utf8'));
  const other = compileXsd(readFileSync(`${dir}xep-0323.xsd`, 'utf8'), 'other.xsd');

  describe('EXI schema-informed reference vectors (xep-0323.xsd)', () => {
    it('the manifest has the 14 schema-sd vectors with schemaId xep-0323.xsd in the header', () => {
      expect(vectors).toHaveLength(14);
      for (const v of vectors) {
        expect(v.options.schemaId).toBe('xep-0323.xsd');
        expect(v.header.optionsInHeader).toBe(true);
      }
    });

    for (const v of vectors) {
      it(`${v.exi}: decodes to the expected document`, () => {
        const decodedName = v.exi.replace(/\.exi$/, '.decoded.xml');
        const expectedName = existsSync(dir + decodedName) ? decodedName : v.xml;
        const expected = readFileSync(dir + expectedName, 'utf8');
        const stream = decodeStream(read(v.exi), { schemas });
        expect(stream.options.schemaId).toBe('xep-0323.xsd');
        expect(canonicalXml(decode(read(v.exi), { schemas }))).toEqual(canonicalXml(expected));
        // the bundled copy of the schema gives the same result, and so does a schema compiled without id
        const reference = decode(read(v.exi), { schemas });
        expect(decode(read(v.exi), { schema: iotSchema('xep-0323.xsd') })).toBe(reference);
        expect(decode(read(v.exi), { schema: anonymous })).toBe(reference);
        // a schema with another id is not taken for this one
        expect(() => decode(read(v.exi), { schema: other })).toThrow(ExiUnsupportedError);
      });

      it(`${v.exi}: our encoder reproduces the reference stream`, () => {
        const ours = encode(readFileSync(dir + v.xml, 'utf8'), {
          schema,
          includeOptions: true,
          dropIgnorableWhitespace: true,
        });
        expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(read(v.exi)).toString('hex'));
      });

      it(`${v.exi}: re-encoding the decoded document gives the same bytes`, () => {
        const xml = decode(read(v.exi), { schemas });
        const again = encode(xml, { schema, includeOptions: true });
        expect(Buffer.from(again).toString('hex')).toBe(Buffer.from(read(v.exi)).toString('hex'));
      });

      it(`${v.exi}: without the schema -> ExiUnsupportedError naming the schemaId`, () => {
        expect(() => decode(read(v.exi))).toThrow(ExiUnsupportedError);
        expect(() => decode(read(v.exi), { schemas: {} })).toThrow(/schemaId 'xep-0323\.xsd'/);
      });
    }
  });
}
