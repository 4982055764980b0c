import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { unlessAborted } from '../../src/xmpp/pubsub.js';

// The publisher waits for each publish's reply unless the session ends (issue 13: racing one long-lived
// pending promise kept every reply until the connection dropped).
describe('waiting for a publish unless the session ends', () => {
  it('resolves with the reply and leaves no listener on the session signal', async () => {
    const session = new AbortController();
    for (let i = 0; i < 100; i++) {
      await expect(unlessAborted(Promise.resolve(i), session.signal)).resolves.toBe(i);
    }
    await expect(unlessAborted(Promise.reject(new Error('item-not-found')), session.signal)).rejects.toThrow(
      'item-not-found',
    );
    expect(getEventListeners(session.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with the reason as soon as the session ends, and at once when it already has', async () => {
    const session = new AbortController();
    const waiting = unlessAborted(new Promise<never>(() => undefined), session.signal);
    session.abort(new Error('offline'));
    await expect(waiting).rejects.toThrow('offline');
    await expect(unlessAborted(Promise.resolve(1), session.signal)).rejects.toThrow('offline');
    expect(getEventListeners(session.signal, 'abort')).toHaveLength(0);
  });
});
