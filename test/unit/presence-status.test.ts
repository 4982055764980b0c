import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPresenceStatus, presenceStatusLine } from '../../src/agent/presence-status.js';

describe('the presence status line', () => {
  it('says how many devices there are and that all are available', () => {
    expect(
      presenceStatusLine([
        { id: 'a', available: true },
        { id: 'b', available: undefined },
        { id: 'c', available: true },
      ]),
    ).toBe('3 devices, all available');
    expect(presenceStatusLine([{ id: 'a', available: true }])).toBe('1 device, all available');
  });

  it('names the unavailable devices, at most three', () => {
    expect(
      presenceStatusLine([
        { id: 'door', available: false },
        { id: 'b', available: true },
        { id: 'c', available: true },
      ]),
    ).toBe('3 devices, 1 unavailable: door');
    const down = ['a', 'b', 'c', 'd'].map((id) => ({ id, available: false }));
    expect(presenceStatusLine(down)).toBe('4 devices, 4 unavailable: a, b, c, …');
  });
});

describe('re-announcing the status', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const setup = () => {
    let line = '2 devices, all available';
    const sent: string[] = [];
    const status = createPresenceStatus({
      line: () => line,
      announce: async (s) => void sent.push(s),
      online: () => true,
      now: () => Date.now(),
    });
    return { status, sent, set: (l: string) => (line = l) };
  };

  it('sends at most one presence per 5 s, with the latest line, and nothing when the line is unchanged', () => {
    const { status, sent, set } = setup();
    expect(status.current()).toBe('2 devices, all available');
    set('2 devices, 1 unavailable: door');
    status.changed();
    set('2 devices, all available');
    status.changed();
    set('2 devices, 1 unavailable: lamp');
    status.changed();
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(5000);
    expect(sent).toEqual(['2 devices, 1 unavailable: lamp']);
    set('2 devices, all available');
    status.changed();
    vi.advanceTimersByTime(4999);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual(['2 devices, 1 unavailable: lamp', '2 devices, all available']);
    vi.advanceTimersByTime(10_000);
    status.changed();
    expect(sent).toHaveLength(2); // unchanged line: nothing sent
  });
});
