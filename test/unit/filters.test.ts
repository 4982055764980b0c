import { describe, expect, it } from 'vitest';
import { createFilterChain } from '../../src/filters/index.js';

function run(chain: ReturnType<typeof createFilterChain>, values: [number, number][]) {
  return values.map(([v, t]) => chain.process(v, t));
}

describe('field filters', () => {
  it('delta publishes only changes of at least the threshold, against the last published value', () => {
    const chain = createFilterChain([{ delta: 0.5 }]);
    expect(
      run(chain, [
        [1, 0],
        [1.2, 1],
        [1.4, 2],
        [1.6, 3],
        [1.0, 4],
      ]),
    ).toEqual([1, undefined, undefined, 1.6, 1.0]);
  });

  it('throttle publishes at most once per interval', () => {
    const chain = createFilterChain([{ throttle: '10s' }]);
    expect(
      run(chain, [
        [1, 0],
        [2, 5000],
        [3, 10_000],
        [4, 12_000],
      ]),
    ).toEqual([1, undefined, 3, undefined]);
  });

  it('heartbeat republishes an unchanged value once its interval passed', () => {
    const chain = createFilterChain([{ delta: 1 }, { heartbeat: '1m' }]);
    expect(
      run(chain, [
        [5, 0],
        [5, 30_000],
        [5, 60_000],
        [5, 61_000],
      ]),
    ).toEqual([5, undefined, 5, undefined]);
  });

  it('applies transforms in order: offset, multiply, round, clamp', () => {
    const chain = createFilterChain([{ offset: 1 }, { multiply: 2 }, { round: 1 }, { clamp: { max: 10 } }]);
    expect(
      run(chain, [
        [1.234, 0],
        [9, 1],
      ]),
    ).toEqual([4.5, 10]);
  });

  it('averages over a sliding window', () => {
    const chain = createFilterChain([{ slidingAverage: 3 }]);
    expect(
      run(chain, [
        [3, 0],
        [6, 1],
        [9, 2],
        [12, 3],
      ]),
    ).toEqual([3, 4.5, 6, 9]);
  });

  it('applies only stateless transforms to readouts, leaving the publishing chain untouched', () => {
    const chain = createFilterChain([{ multiply: 10 }, { slidingAverage: 2 }, { delta: 100 }]);
    expect(chain.process(1, 0)).toBe(10);
    expect(chain.transformOnly(5)).toBe(50);
    expect(chain.process(3, 1)).toBeUndefined(); // average of 10 and 30 is 20: within delta of 10
  });

  it('treats any change of a boolean or string as a delta', () => {
    const chain = createFilterChain([{ delta: 0 }]);
    expect([true, true, false].map((v, t) => chain.process(v, t))).toEqual([true, undefined, false]);
  });
});
