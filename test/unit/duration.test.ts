import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, parseDuration, setLongTimeout } from '../../src/core/duration.js';

describe('setLongTimeout', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits a delay past the ceiling of setTimeout in full (4 weeks), then runs once', () => {
    const fn = vi.fn();
    const fourWeeks = parseDuration('4w') as number;
    expect(fourWeeks).toBeGreaterThan(MAX_TIMER_MS);
    setLongTimeout(fn, fourWeeks);
    vi.advanceTimersByTime(MAX_TIMER_MS + 1000);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(fourWeeks - MAX_TIMER_MS - 1001);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(fourWeeks * 3);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('runs a short delay like setTimeout, and a negative one at once', () => {
    const fn = vi.fn();
    setLongTimeout(fn, 50);
    setLongTimeout(fn, -5);
    vi.advanceTimersByTime(0);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(50);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('can be cleared before and after a link of the chain', () => {
    const fn = vi.fn();
    setLongTimeout(fn, 10 * MAX_TIMER_MS).clear();
    const later = setLongTimeout(fn, 3 * MAX_TIMER_MS);
    vi.advanceTimersByTime(MAX_TIMER_MS + 1);
    later.clear();
    vi.advanceTimersByTime(20 * MAX_TIMER_MS);
    expect(fn).not.toHaveBeenCalled();
  });
});
