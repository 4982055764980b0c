import type { ExiOptions } from '../src/index.js';

/** A seeded pseudo-random generator (mulberry32) in [0, 1): the same seed gives the same documents. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The EXI options of a reference vector as vectors/vectors.json writes them (see vectors/README.md). */
export interface VectorOptions {
  alignment: 'bit-packed' | 'byte' | 'pre-compress' | null;
  compression: boolean;
  strict: boolean;
  fragment: boolean;
  preserve: { comments: boolean; pis: boolean; dtd: boolean; prefixes: boolean; lexicalValues: boolean };
  selfContained: boolean;
  schemaId: string | null;
  datatypeRepresentationMap: unknown[];
  blockSize: number;
  valueMaxLength: number | 'unbounded';
  valuePartitionCapacity: number | 'unbounded';
}

/** A vector's options as the codec takes them (schema and schemaId left to the caller). */
export function exiOptionsOf(o: VectorOptions): ExiOptions {
  const alignments = {
    'bit-packed': 'bit-packed',
    byte: 'byte-alignment',
    'pre-compress': 'pre-compression',
  } as const;
  return {
    alignment: o.compression ? 'compression' : alignments[o.alignment ?? 'bit-packed'],
    strict: o.strict,
    fragment: o.fragment,
    selfContained: o.selfContained,
    preserve: o.preserve,
    blockSize: o.blockSize,
    valueMaxLength: o.valueMaxLength === 'unbounded' ? undefined : o.valueMaxLength,
    valuePartitionCapacity: o.valuePartitionCapacity === 'unbounded' ? undefined : o.valuePartitionCapacity,
  };
}
