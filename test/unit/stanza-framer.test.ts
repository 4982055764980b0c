import { describe, expect, it } from 'vitest';
import { createStanzaFramer, type FramedPiece, readStanzaHead } from '../../src/xmpp/stanza-framer.js';

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/** Feeds `input` cut into chunks of `size` bytes; joins adjacent xml pieces back into text. */
function frame(input: string, size: number, max = 1000): Array<string | { oversize: number; head: string }> {
  const framer = createStanzaFramer(max, 64);
  const bytes = Buffer.from(input, 'utf8');
  const pieces: FramedPiece[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(...framer.push(bytes.subarray(i, i + size)));
  const out: Array<string | { oversize: number; head: string }> = [];
  for (const p of pieces) {
    if (p.kind === 'oversize') out.push({ oversize: p.bytes, head: p.head });
    else if (typeof out.at(-1) === 'string') out[out.length - 1] += p.text;
    else out.push(p.text);
  }
  return out;
}

describe('stanza framer', () => {
  const stanzas = [
    "<iq type='get' id='1'><query xmlns='urn:x'/></iq>",
    "<message to='a@b' x='1/' y=\"a>b\"><body>1 &gt; 0 — ünïcödé 🌡</body></message>",
    '<presence/>',
    "<iq type='set' id='2'><x xmlns='urn:y'><!-- a comment with <tags> --><![CDATA[ <not/> a tag ]]></x></iq>",
  ];
  const stream = `${HEADER}${stanzas.join(' \n')}</stream:stream>`;

  it('passes a stream through unchanged, however it is cut into chunks', () => {
    for (const size of [1, 2, 3, 7, 64, 100_000]) {
      expect(frame(stream, size)).toEqual([stream]);
    }
  });

  it('replaces a stanza over the limit by its size and first bytes, and keeps the rest of the stream', () => {
    const big = `<iq type='set' id='big' from='x@y/z'><query xmlns='urn:big'>${'a'.repeat(5000)}</query></iq>`;
    const input = `${HEADER}${stanzas[0]}${big}${stanzas[2]}</stream:stream>`;
    for (const size of [1, 13, 4096]) {
      const out = frame(input, size);
      expect(out).toEqual([
        `${HEADER}${stanzas[0]}`,
        { oversize: Buffer.byteLength(big), head: big.slice(0, 64) },
        `${stanzas[2]}</stream:stream>`,
      ]);
    }
  });

  it('keeps the sender of a stanza whose start tag alone is over the limit: long attribute values are cut', () => {
    // A server may write `from` after a 1 MB attribute (issue 13): the error reply needs it, and the id.
    const big = `<iq x='${'a'.repeat(100_000)}' type='set' id='big' from='x@y/z'><query xmlns='urn:q'/></iq>`;
    const framer = createStanzaFramer(1000, 4096);
    const bytes = Buffer.from(`${HEADER}${big}`);
    const pieces: FramedPiece[] = [];
    for (let i = 0; i < bytes.length; i += 1460) pieces.push(...framer.push(bytes.subarray(i, i + 1460)));
    const dropped = pieces.find((p) => p.kind === 'oversize');
    expect(dropped).toMatchObject({ bytes: Buffer.byteLength(big) });
    const head = readStanzaHead(dropped?.kind === 'oversize' ? dropped.head : '');
    expect(head.attrs).toMatchObject({ type: 'set', id: 'big', from: 'x@y/z' });
    expect(head.attrs?.x).toHaveLength(256);
    expect(head.child).toEqual({ name: 'query', xmlns: 'urn:q' });
  });

  it('keeps at most its head size of a start tag, however many attributes it has', () => {
    const many = `<iq ${Array.from({ length: 5000 }, (_, i) => `a${i}='1'`).join(' ')} id='late'/>`;
    const framer = createStanzaFramer(1000, 4096);
    const dropped = framer.push(Buffer.from(`${HEADER}${many}`)).find((p) => p.kind === 'oversize');
    // The head is at most headBytes and never more than the limit itself (1000 here).
    expect(dropped?.kind === 'oversize' && Buffer.byteLength(dropped.head)).toBe(1000);
  });

  it('counts bytes, not characters', () => {
    const s = `<message><body>${'é'.repeat(600)}</body></message>`; // 621 characters, 1221 bytes
    const out = frame(`${HEADER}${s}`, 50);
    expect(out[1]).toMatchObject({ oversize: Buffer.byteLength(s) });
  });

  it('starts again after a stream restart', () => {
    const framer = createStanzaFramer(1000);
    framer.push(Buffer.from(`${HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`));
    framer.reset();
    const out = framer.push(Buffer.from(`${HEADER}<iq type='result' id='1'/>`));
    expect(out.map((p) => (p.kind === 'xml' ? p.text : '')).join('')).toBe(
      `${HEADER}<iq type='result' id='1'/>`,
    );
  });
});

describe('readStanzaHead', () => {
  it('reads the start tag and the first child of a cut stanza', () => {
    expect(
      readStanzaHead("<iq type='set' id='a&amp;b' from=\"x@y/z\"><query xmlns='urn:q' big='aaaa"),
    ).toEqual({
      name: 'iq',
      attrs: { type: 'set', id: 'a&b', from: 'x@y/z' },
      child: { name: 'query', xmlns: 'urn:q' },
    });
  });
  it('has no attributes when the start tag itself is cut', () => {
    expect(readStanzaHead("<iq type='set' id='1' x='aaaa")).toEqual({
      name: 'iq',
      attrs: undefined,
      child: undefined,
    });
  });
});
