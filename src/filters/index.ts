/**
 * Per-field value filters, ESPHome style (a chain per field, written in config as a list of one-key maps):
 *   transforms change the value: offset, multiply, round, clamp, slidingAverage;
 *   gates decide whether it is published: delta, throttle; heartbeat overrides a gate's "no" when nothing
 *   was published for its interval.
 * Transforms keep running after a gate said no, so a heartbeat publishes the current transformed value.
 * Momentary readouts apply only the stateless transforms (see `transformOnly`): a readout must not disturb the
 * averaging window or the gates of the publishing chain.
 */
import { parseDuration } from '../core/duration.js';
import type { FieldValue } from '../model/fields.js';
import { durationOption, type OptionsSchema, v } from '../sdk/options.js';

const finite = v.pipe(v.number(), v.finite());
const duration = durationOption();

export type FilterSpec =
  | { offset: number }
  | { multiply: number }
  | { round: number }
  | { clamp: { min?: number; max?: number } }
  | { slidingAverage: number }
  | { delta: number }
  | { throttle: string }
  | { heartbeat: string };

/**
 * One filter is a map with exactly one key. Written as one strict object of optional keys plus a one-key check
 * (not a union of eight objects): a typo then reads `unknown key "ofset"`, not "matches none of 8 shapes".
 */
export const filterSpecSchema = v.pipe(
  v.strictObject({
    offset: v.optional(finite),
    multiply: v.optional(finite),
    round: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(12))),
    clamp: v.optional(v.strictObject({ min: v.optional(finite), max: v.optional(finite) })),
    slidingAverage: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000))),
    delta: v.optional(v.pipe(v.number(), v.minValue(0))),
    throttle: v.optional(duration),
    heartbeat: v.optional(duration),
  }),
  v.check(
    (f) => Object.keys(f).length === 1,
    'a filter is a map with one key: offset, multiply, round, clamp, slidingAverage, delta, throttle or heartbeat',
  ),
) as OptionsSchema<FilterSpec>;

export const NUMERIC_ONLY_FILTERS = ['offset', 'multiply', 'round', 'clamp', 'slidingAverage'] as const;
export function filterName(spec: FilterSpec): string {
  return Object.keys(spec)[0] as string;
}

interface Stage {
  /** Stateless transforms are also used for readouts. */
  stateless: boolean;
  transform?(value: FieldValue): FieldValue;
  /** A gate: may the value be published now? */
  gate?(value: FieldValue, now: number): boolean;
  /** Told what was actually published, so gates compare with it. */
  published?(value: FieldValue, now: number): void;
  heartbeatMs?: number;
}

function numberStage(stateless: boolean, f: (n: number) => number): Stage {
  return { stateless, transform: (v) => (typeof v === 'number' ? f(v) : v) };
}

function stage(spec: FilterSpec): Stage {
  if ('offset' in spec) return numberStage(true, (n) => n + spec.offset);
  if ('multiply' in spec) return numberStage(true, (n) => n * spec.multiply);
  if ('round' in spec) {
    const k = 10 ** spec.round;
    return numberStage(true, (n) => Math.round(n * k) / k);
  }
  if ('clamp' in spec) {
    const { min = -Infinity, max = Infinity } = spec.clamp;
    return numberStage(true, (n) => Math.min(max, Math.max(min, n)));
  }
  if ('slidingAverage' in spec) {
    const window: number[] = [];
    return numberStage(false, (n) => {
      window.push(n);
      if (window.length > spec.slidingAverage) window.shift();
      return window.reduce((a, b) => a + b, 0) / window.length;
    });
  }
  if ('delta' in spec) {
    let last: FieldValue | undefined;
    return {
      stateless: false,
      gate: (v) => last === undefined || changedBy(last, v, spec.delta),
      published: (v) => {
        last = v;
      },
    };
  }
  if ('throttle' in spec) {
    const ms = parseDuration(spec.throttle) as number;
    let lastAt = -Infinity;
    return {
      stateless: false,
      gate: (_v, now) => now - lastAt >= ms,
      published: (_v, now) => {
        lastAt = now;
      },
    };
  }
  return { stateless: false, heartbeatMs: parseDuration(spec.heartbeat) as number };
}

function changedBy(last: FieldValue, value: FieldValue, delta: number): boolean {
  if (typeof last === 'number' && typeof value === 'number')
    return Math.abs(value - last) >= delta && value !== last;
  if (last instanceof Date && value instanceof Date) return last.getTime() !== value.getTime();
  return last !== value;
}

export interface FilterChain {
  /** Runs the chain: the value to publish, or undefined when a gate holds it back. */
  process(value: FieldValue, now: number): FieldValue | undefined;
  /** Stateless transforms only (offset, multiply, round, clamp), for readouts. */
  transformOnly(value: FieldValue): FieldValue;
}

export function createFilterChain(specs: readonly FilterSpec[]): FilterChain {
  const stages = specs.map(stage);
  const heartbeatMs = Math.min(...stages.map((s) => s.heartbeatMs ?? Infinity));
  let lastPublishedAt = -Infinity;
  return {
    process(raw, now) {
      let value = raw;
      let pass = true;
      for (const s of stages) {
        if (s.transform) value = s.transform(value);
        if (pass && s.gate && !s.gate(value, now)) pass = false;
      }
      if (!pass && now - lastPublishedAt < heartbeatMs) return undefined;
      lastPublishedAt = now;
      for (const s of stages) s.published?.(value, now);
      return value;
    },
    transformOnly(raw) {
      let value = raw;
      for (const s of stages) if (s.stateless && s.transform) value = s.transform(value);
      return value;
    },
  };
}
