/**
 * The XEP-0322 binding's stream reader (src/xmpp/exi-connection.ts) under untrusted input: mutated, cut and
 * randomly chunked EXI/XMPP streams give bodies or an ExiError, nothing else (issue 13). The codec's own fuzzing
 * is packages/exi4js/test/untrusted.test.ts.
 */
import { createHash } from 'node:crypto';
import { ExiError } from 'exi4js';
import { describe, expect, it } from 'vitest';
import { ExiBodyReader, ExiBodyWriter } from '../../src/xmpp/exi-connection.js';

/** Deterministic numbers in [0, 1) from a seed: the same seed gives the same streams (SHA-256 in counter mode). */
function seeded(seed: number): () => number {
  let counter = 0;
  return () => createHash('sha256').update(`${seed}:${counter++}`).digest().readUInt32BE(0) / 2 ** 32;
}

/** Runs a push and says how it ended; anything but bodies or an ExiError fails the test. */
function outcome(run: () => void, what: string): 'ok' | 'exi' {
  try {
    run();
    return 'ok';
  } catch (e) {
    if (e instanceof ExiError) return 'exi';
    throw new Error(`${what}: ${(e as Error).stack}`, { cause: e });
  }
}

describe('EXI binding stream reader (seeded fuzzing)', () => {
  it("the binding's stream reader: mutated and chunked EXI/XMPP streams give bodies or an ExiError", () => {
    const r = seeded(322);
    const stanzas = [
      `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFnZW50AHB3</auth>`,
      `<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>agent</resource></bind></iq>`,
      `<message xmlns='jabber:client' to='alice@localhost' id='m1'><body>hello &amp; welcome</body></message>`,
      `<iq xmlns='jabber:client' type='result' id='r8'><accepted xmlns='urn:xmpp:iot:sensordata' seqnr='44'/></iq>`,
    ];
    const setups = [
      { schemas: [] },
      {
        schemas: ['xep-0323.xsd' as const],
        sessionWideBuffers: true,
        valuePartitionCapacity: 16,
        valueMaxLength: 32,
      },
    ];
    let bodies = 0;
    let errors = 0;
    for (let round = 0; round < 300; round++) {
      const agreed = setups[round % 2] as (typeof setups)[1];
      const w = new ExiBodyWriter();
      w.restart(agreed);
      const wire = Buffer.concat(
        Array.from({ length: 6 }, () => w.element(stanzas[Math.floor(r() * 4)] as string)),
      );
      const mutated = Uint8Array.from(wire);
      const kind = round % 3;
      if (kind === 0)
        for (let f = 0; f < 3; f++) {
          const at = 5 + Math.floor(r() * (wire.length - 5));
          mutated[at] = (mutated[at] as number) ^ (1 << Math.floor(r() * 8));
        }
      else if (kind === 1)
        for (let i = 5 + Math.floor(r() * 40); i < mutated.length; i++) mutated[i] = Math.floor(r() * 256);
      const cut = kind === 2 ? Math.floor(r() * mutated.length) : mutated.length;
      const reader = new ExiBodyReader(() => bodies++);
      reader.restart(agreed);
      const res = outcome(() => {
        for (let i = 0; i < cut;) {
          const n = 1 + Math.floor(r() * 64);
          reader.push(mutated.subarray(i, Math.min(cut, i + n)));
          i += n;
        }
      }, `round ${round}`);
      if (res !== 'ok') errors++;
    }
    expect(bodies).toBeGreaterThan(300);
    expect(errors).toBeGreaterThan(0);
  });
});
