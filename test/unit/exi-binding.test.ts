/**
 * XEP-0322 binary binding without an XMPP server: framing of EXI bodies, setup negotiation, and a whole
 * session (SASL PLAIN, stream restart, bind, a publish IQ, messages both ways) from a real @xmpp/client
 * with the exi:// transport, through the gateway, to a scripted XML server on loopback.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { client, xml } from '@xmpp/client';
import { type Element, Parser } from '@xmpp/xml';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { decode, ExiError, type ExiEvent, iotSchemas, parseXml, serializeXml } from 'exi4js';
import { startExiGateway, upstreamXml } from '../../src/hub/exi-gateway.js';
import {
  answerSetup,
  canonicalSchema,
  EXI_HEADER,
  ExiBodyReader,
  ExiBodyWriter,
  exiSocketParameters,
  knownSchemas,
  readSetupResponse,
  SESSION_VALUE_MAX,
  SESSION_VALUE_MAX_LENGTH,
  SESSION_VALUE_PARTITION_CAPACITY,
  setupExiTransport,
  setupXml,
  standaloneXml,
  streamOpenTag,
  streamStartXml,
  toTree,
} from '../../src/xmpp/exi-connection.js';

const SD = 'urn:xmpp:iot:sensordata';
const fieldsXml =
  `<message xmlns='jabber:client' to='alice@localhost' id='m1'><fields xmlns='${SD}' seqnr='7' done='true'>` +
  `<node nodeId='host'><timestamp value='2026-11-24T09:30:00.000Z'>` +
  `<numeric name='load' momentary='true' automaticReadout='true' value='0.25' unit='1'/>` +
  `<boolean name='up' momentary='true' automaticReadout='true' value='true'/>` +
  `</timestamp></node></fields></message>`;

/** Expanded-name view of an element's XML, for comparing across prefix/declaration differences. */
function canon(xmlText: string): string {
  return serializeXml(parseXml(xmlText).filter((e) => e.type !== 'NS'));
}

function collect(reader: (cb: (e: ExiEvent[]) => void) => ExiBodyReader): {
  r: ExiBodyReader;
  got: string[];
} {
  const got: string[] = [];
  const r = reader((events) => got.push(serializeXml(events)));
  return { r, got };
}

describe('EXI/XMPP framing', () => {
  const docs = [
    streamStartXml({
      xmlns: 'jabber:client',
      'xmlns:stream': 'http://etherx.jabber.org/streams',
      to: 'localhost',
      version: '1.0',
      'xml:lang': 'en',
    }),
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFnZW50AHB3</auth>`,
    `<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>agent</resource></bind></iq>`,
    fieldsXml,
    `<streamEnd xmlns='http://jabber.org/protocol/compress/exi'/>`,
  ];

  it('starts with the $EXI cookie and header, then byte-padded bodies that the reader delimits itself', () => {
    const w = new ExiBodyWriter();
    const bodies = docs.map((d) => w.element(d));
    expect([...(bodies[0] as Uint8Array).subarray(0, 5)]).toEqual([...EXI_HEADER]);
    // Only the first body carries the header.
    expect((bodies[1] as Uint8Array)[0]).not.toBe(0x24);
    const wire = Buffer.concat(bodies);
    // One chunk, and byte by byte: the same bodies come out, whatever TCP does to them.
    for (const chunking of [wire.length, 1, 3]) {
      const { r, got } = collect((cb) => new ExiBodyReader(cb));
      for (let i = 0; i < wire.length; i += chunking) r.push(wire.subarray(i, i + chunking));
      expect(got.map(canon)).toEqual(docs.map(canon));
    }
  });

  it('sessionWideBuffers: one EXI session per direction, bodies shrink, any chunking decodes', () => {
    const agreed = {
      schemas: ['xep-0323.xsd' as const],
      sessionWideBuffers: true,
      valuePartitionCapacity: 16,
    };
    const plain = new ExiBodyWriter();
    plain.restart({ ...agreed, sessionWideBuffers: false });
    const w = new ExiBodyWriter();
    w.restart(agreed);
    const stream = [...docs.slice(0, -1), fieldsXml, fieldsXml, fieldsXml, docs.at(-1) as string];
    const bodies = stream.map((d) => w.element(d));
    const plainBodies = stream.map((d) => plain.element(d));
    const sum = (bs: Uint8Array[]) => bs.reduce((n, b) => n + b.length, 0);
    expect(sum(bodies)).toBeLessThan(sum(plainBodies) * 0.8);
    // the repeated stanza: much smaller than its first appearance
    expect((bodies[5] as Uint8Array).length).toBeLessThan((bodies[3] as Uint8Array).length * 0.5);
    const wire = Buffer.concat(bodies);
    for (const chunking of [wire.length, 1, 2, 7]) {
      const { r, got } = collect((cb) => new ExiBodyReader(cb));
      r.restart(agreed);
      for (let i = 0; i < wire.length; i += chunking) r.push(wire.subarray(i, i + chunking));
      expect(got.map(canon)).toEqual(
        stream.map((d) =>
          canon(
            decode(Uint8Array.from([0x80, ...plain.element(d)]), {
              schema: canonicalSchema(['xep-0323.xsd']),
            }),
          ),
        ),
      );
    }
    expect(exiSocketParameters('exi://hub:5333')).toEqual({
      host: 'hub',
      port: 5333,
      sessionWideBuffers: true,
    });
    expect(exiSocketParameters('exi://hub:5333?sessionWideBuffers=false')?.sessionWideBuffers).toBe(false);
    expect(() => exiSocketParameters('exi://hub:5333?sessionWideBuffers=maybe')).toThrow(/true or false/);
  });

  it('each body is a standalone EXI document (header 0x80 + body decodes with the public decoder)', () => {
    const w = new ExiBodyWriter();
    w.element(docs[0] as string); // consume the header
    const body = w.element(fieldsXml);
    expect(canon(decode(Uint8Array.from([0x80, ...body])))).toBe(canon(fieldsXml));
  });

  it('rejects data that is not EXI and EXI headers with an options document', () => {
    const r = new ExiBodyReader(() => undefined);
    expect(() => r.push(Buffer.from('<stream:stream>'))).toThrow(/EXI/);
    const r2 = new ExiBodyReader(() => undefined);
    expect(() => r2.push(Uint8Array.from([0x24, 0x45, 0x58, 0x49, 0xa0]))).toThrow(/options documents/);
  });

  it('negotiates the schemas we have by namespace, size and MD5, and encodes with the canonical schema', () => {
    const have = knownSchemas();
    expect(have.map((s) => s.ns)).toEqual([
      SD,
      'urn:xmpp:iot:control',
      'jabber:client',
      'urn:ietf:params:xml:ns:xmpp-stanzas',
      'http://jabber.org/protocol/pubsub',
      'http://jabber.org/protocol/pubsub#event',
    ]);
    for (const s of have) expect(s.md5Hash).toMatch(/^[0-9a-f]{32}$/);
    const w = new ExiBodyWriter();
    const setupEvents: ExiEvent[][] = [];
    new ExiBodyReader((e) => setupEvents.push(e)).push(w.element(setupXml()));
    const answer = answerSetup(toTree(setupEvents[0] as ExiEvent[]));
    expect(answer.agreement).toBe(true);
    expect(answer.agreed.schemas).toEqual(have.map((s) => s.id));
    const respEvents = parseXml(answer.xml);
    expect(readSetupResponse(toTree(respEvents))).toEqual(answer.agreed);

    // sessionWideBuffers is proposed by default, with bounded string tables, and accepted.
    expect(answer.agreed).toMatchObject({
      sessionWideBuffers: true,
      valueMaxLength: SESSION_VALUE_MAX_LENGTH,
      valuePartitionCapacity: SESSION_VALUE_PARTITION_CAPACITY,
    });
    expect(answer.xml).toContain("sessionWideBuffers='true'");
    const without = answerSetup(toTree(parseXml(setupXml(have, { sessionWideBuffers: false }))));
    expect(without.agreement).toBe(true);
    expect(without.agreed.sessionWideBuffers).toBe(false);
    expect(without.xml).toContain("sessionWideBuffers='false'");

    // A schema file with other bytes is missing; strict=true is lowered.
    const other = setupXml([{ ...(have[0] as (typeof have)[0]), md5Hash: '0'.repeat(32) }]).replace(
      "strict='false'",
      "strict='true'",
    );
    const refused = answerSetup(toTree(parseXml(other)));
    expect(refused.agreement).toBe(false);
    expect(refused.agreed.schemas).toEqual([]);
    expect(refused.xml).toContain('<missingSchema');
    expect(refused.xml).toContain("strict='false'");

    // jabber-client.xsd refers to stanzaerror.xsd: proposed without it, it is answered as missing.
    const client = have.filter((s) => s.id === 'jabber-client.xsd' || s.id === 'pubsub.xsd');
    const partial = answerSetup(toTree(parseXml(setupXml(client))));
    expect(partial.agreement).toBe(false);
    expect(partial.agreed.schemas).toEqual(['pubsub.xsd']);
    expect(partial.xml).toMatch(/<missingSchema ns='jabber:client'/);

    // After setup both sides restart with the agreed schema: the sensor stanza gets much smaller.
    const plain = new ExiBodyWriter();
    plain.element(docs[0] as string);
    const informed = new ExiBodyWriter();
    informed.restart(answer.agreed);
    informed.element(docs[0] as string);
    const a = plain.element(fieldsXml).length;
    const b = informed.element(fieldsXml).length;
    expect(b).toBeLessThan(a * 0.8);
    const { r, got } = collect((cb) => new ExiBodyReader(cb));
    r.restart(answer.agreed);
    const again = new ExiBodyWriter();
    again.restart(answer.agreed);
    r.push(again.element(fieldsXml));
    // Typed values come back in their canonical form (0.25 as xs:double is 25E-2).
    const out = toTree(parseXml(got[0] as string));
    const numeric = out.children[0]?.children[0]?.children[0]?.children[0];
    expect(Number(numeric?.attrs.value)).toBe(0.25);
    expect(canonicalSchema(['xep-0323.xsd'])?.globalElements.size).toBe(
      iotSchemas()['xep-0323.xsd'].globalElements.size,
    );
  });

  it('a long string cut into TCP segments is decoded once it can be complete, not again with every segment', () => {
    const w = new ExiBodyWriter();
    const big = `<message xmlns='jabber:client' id='x'><body>${'y'.repeat(900_000)}</body></message>`;
    const wire = w.element(big);
    const { r, got } = collect((cb) => new ExiBodyReader(cb));
    const t0 = performance.now();
    for (let i = 0; i < wire.length; i += 1460) r.push(wire.subarray(i, i + 1460));
    // Decoded again with each of its 617 segments this took 14 s; now about 0.1 s.
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(got.map(canon)).toEqual([canon(big)]);
    // A string that declares more than the binding's maximum stanza is refused as soon as it says so.
    const huge = new ExiBodyReader(() => undefined);
    const claim = new ExiBodyWriter().element(
      `<message xmlns='jabber:client'><body>${'z'.repeat(1_100_000)}</body></message>`,
    );
    expect(() => huge.push(claim.subarray(0, 64))).toThrow(/maxDecodedBytes/);
  });

  it('sessionWideBuffers: the server bounds the value tables the client proposes', () => {
    const proposal = setupXml(knownSchemas(), { sessionWideBuffers: true })
      .replace(`valueMaxLength='${SESSION_VALUE_MAX_LENGTH}'`, "valueMaxLength='100000'")
      .replace(` valuePartitionCapacity='${SESSION_VALUE_PARTITION_CAPACITY}'`, '');
    const answer = answerSetup(toTree(parseXml(proposal)));
    expect(answer.agreement).toBe(false);
    expect(answer.agreed).toMatchObject({
      sessionWideBuffers: true,
      valueMaxLength: SESSION_VALUE_MAX.valueMaxLength,
      valuePartitionCapacity: SESSION_VALUE_MAX.valuePartitionCapacity,
    });
    expect(readSetupResponse(toTree(parseXml(answer.xml)))).toEqual(answer.agreed);
  });

  it('translates stream open tags and inherited namespaces', () => {
    const open = parseXml(
      streamStartXml({
        xmlns: 'jabber:client',
        'xmlns:stream': 'http://etherx.jabber.org/streams',
        from: 'localhost',
        id: 'abc',
        version: '1.0',
        'xml:lang': 'en',
      }),
    );
    const tag = streamOpenTag(open);
    expect(tag).toContain(
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'",
    );
    expect(tag).toContain("from='localhost'");
    expect(tag).toContain("xml:lang='en'");
    expect(tag).toContain("id='abc'");
    const features = new Parser();
    let el: Element | undefined;
    let root: Element | undefined;
    features.on('start', (r: Element) => (root = r));
    features.on('element', (e: Element) => (el = e));
    features.write(
      `${tag}<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`,
    );
    const text = standaloneXml(el as Element, (root as Element).attrs);
    expect(toTree(parseXml(text))).toMatchObject({
      uri: 'http://etherx.jabber.org/streams',
      localName: 'features',
    });
  });
});

/** A scripted XML c2s server: PLAIN for agent/pw, bind, answers iqs, sends a message after bind. */
function fakeXmppServer(): { server: Server; received: Element[]; opens: number; listen(): Promise<number> } {
  const state = { received: [] as Element[], opens: 0 };
  const server = createServer((sock: Socket) => {
    let parser: Parser;
    let authed = false;
    const reset = () => {
      parser = new Parser();
      parser.on('start', () => {
        state.opens++;
        sock.write(
          `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s${state.opens}' version='1.0' xml:lang='en'>`,
        );
        sock.write(
          authed
            ? `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`
            : `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
        );
      });
      parser.on('element', (el: Element) => {
        state.received.push(el);
        if (el.is('auth', 'urn:ietf:params:xml:ns:xmpp-sasl')) {
          const ok = Buffer.from(el.text(), 'base64').toString() === '\0agent\0pw';
          sock.write(
            ok
              ? `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`
              : `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>`,
          );
          if (ok) {
            authed = true;
            reset();
          }
        } else if (el.is('iq') && el.getChild('bind')) {
          sock.write(
            `<iq type='result' id='${el.attrs.id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>agent@localhost/agent</jid></bind></iq>`,
          );
          sock.write(
            `<message from='alice@localhost/x' to='agent@localhost/agent' id='hi'><body>hello &amp; welcome</body></message>`,
          );
        } else if (el.is('iq') && el.attrs.type === 'set') {
          sock.write(`<iq type='result' id='${el.attrs.id}' to='agent@localhost/agent'/>`);
        }
      });
      parser.on('end', () => sock.end('</stream:stream>'));
    };
    reset();
    sock.on('data', (d: Buffer) => parser.write(d.toString('utf8')));
    sock.on('error', () => undefined);
  });
  return {
    server,
    get received() {
      return state.received;
    },
    get opens() {
      return state.opens;
    },
    listen: () =>
      new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
      ),
  };
}

describe('EXI gateway and exi:// transport against a scripted XML server', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  /** A gateway on a free loopback port relaying to a scripted XML server; both stop after the test. */
  async function gatewayToFakeServer() {
    const fake = fakeXmppServer();
    const upstreamPort = await fake.listen();
    cleanup.push(() => new Promise((r) => fake.server.close(() => r())));
    const gw = await startExiGateway({
      listen: { host: '127.0.0.1', port: 0 },
      upstream: { host: '127.0.0.1', port: upstreamPort },
      log: silentLogger(),
    });
    cleanup.push(() => gw.stop());
    return { fake, gw };
  }

  it('carries SASL PLAIN, the restart, bind, a publish IQ and messages both ways', async () => {
    const { fake, gw } = await gatewayToFakeServer();

    // @xmpp/client avoids PLAIN on an unencrypted socket: choose it explicitly (credentials callback).
    const xmpp = client({
      service: `exi://127.0.0.1:${gw.port}`,
      domain: 'localhost',
      resource: 'agent',
      timeout: 3000,
      // Legacy SASL's callback ignores the user agent (SASL2 only).
      credentials: async (authenticate, mechanisms) => {
        expect(mechanisms).toContain('PLAIN');
        await authenticate({ username: 'agent', password: 'pw' }, 'PLAIN', xml('user-agent', {}));
      },
    });
    setupExiTransport(xmpp);
    xmpp.reconnect.stop();
    const messages: Element[] = [];
    xmpp.on('stanza', (s: Element) => {
      if (s.is('message')) messages.push(s);
    });
    xmpp.on('error', () => undefined);
    const jid = await xmpp.start();
    cleanup.push(async () => {
      await xmpp.stop().catch(() => undefined);
    });
    expect(jid.toString()).toBe('agent@localhost/agent');
    expect(fake.opens).toBe(2); // the stream was restarted after SASL

    const auth = fake.received.find((e) => e.name === 'auth');
    expect(auth?.attrs.mechanism).toBe('PLAIN');
    expect(Buffer.from(auth?.text() ?? '', 'base64').toString()).toBe('\0agent\0pw');
    const bind = fake.received.find((e) => e.is('iq') && e.getChild('bind'));
    expect(bind?.getChild('bind')?.getChildText('resource')).toBe('agent');

    // Upstream → agent: the message arrives as an ordinary element, text and entities intact.
    await expect.poll(() => messages.length).toBe(1);
    expect(messages[0]?.getChildText('body')).toBe('hello & welcome');
    expect(messages[0]?.attrs.from).toBe('alice@localhost/x');

    // Agent → upstream: a PEP publish with sensor data, answered through the gateway.
    const publish = xml(
      'iq',
      { type: 'set', id: 'pub1' },
      xml(
        'pubsub',
        { xmlns: 'http://jabber.org/protocol/pubsub' },
        xml(
          'publish',
          { node: SD },
          xml(
            'item',
            { id: 'i1' },
            xml(
              'fields',
              { xmlns: SD, seqnr: '1' },
              xml(
                'node',
                { nodeId: 'host' },
                xml(
                  'timestamp',
                  { value: '2026-11-24T09:30:00.000Z' },
                  xml('numeric', { name: 'load', momentary: 'true', value: '1.5', unit: '1' }),
                ),
              ),
            ),
          ),
        ),
      ),
    );
    const result = await xmpp.iqCaller.request(publish, 3000);
    expect(result.attrs.type).toBe('result');
    const got = fake.received.find((e) => e.attrs.id === 'pub1');
    const numeric = got
      ?.getChild('pubsub')
      ?.getChild('publish')
      ?.getChild('item')
      ?.getChild('fields', SD)
      ?.getChild('node')
      ?.getChild('timestamp')
      ?.getChild('numeric');
    expect(numeric?.attrs.name).toBe('load');
    expect(Number(numeric?.attrs.value)).toBe(1.5);

    await xmpp.send(xml('message', { to: 'alice@localhost', id: 'm2' }, xml('body', {}, 'reading <ok>')));
    await expect
      .poll(() => fake.received.find((e) => e.attrs.id === 'm2')?.getChildText('body'))
      .toBe('reading <ok>');

    const s = gw.stats();
    expect(s.connections).toBe(1);
    expect(s.exiIn).toBeGreaterThan(0);
    expect(s.exiOut).toBeGreaterThan(0);
    // Both sides of the relay were counted (sizes are compared in the integration test).
    expect(s.xmlOut).toBeGreaterThan(0);
    expect(s.xmlIn).toBeGreaterThan(0);
    expect(s.elementsUp).toBeGreaterThanOrEqual(6); // 2 stream opens, auth, bind, publish, message
  });

  /** A raw client of the gateway: what it sends, and the bodies it got (as XML) until the gateway closed it. */
  async function rawClient(port: number, send: (write: (bytes: Uint8Array) => void) => void) {
    const { connect } = await import('node:net');
    const sock = connect({ host: '127.0.0.1', port });
    const got: string[] = [];
    const reader = new ExiBodyReader((events) => got.push(serializeXml(events)));
    sock.on('data', (chunk: Buffer) => reader.push(chunk));
    sock.on('error', () => undefined);
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    await new Promise<void>((r) => sock.on('connect', () => r()));
    send((bytes) => sock.write(bytes));
    await closed;
    return got;
  }

  it('refuses a client that does not speak EXI with a stream error', async () => {
    const { fake, gw } = await gatewayToFakeServer();
    const got = await rawClient(gw.port, (write) =>
      write(Buffer.from(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' to='localhost'>`)),
    );
    expect(fake.received).toEqual([]);
    expect(got.join('')).toContain('<bad-format xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>');
    await expect.poll(() => gw.stats().open).toBe(0);
    expect(gw.stats().rejected).toBe(1);
  });

  it('upstreamXml: the text of exactly the decoded element, or an ExiError', () => {
    const events = parseXml(fieldsXml);
    expect(canon(upstreamXml(events))).toBe(canon(fieldsXml));
    const bad: ExiEvent[] = [
      { type: 'SD' },
      { type: 'SE', uri: 'jabber:client', localName: 'a/><injected' },
      { type: 'EE' },
      { type: 'ED' },
    ];
    expect(() => upstreamXml(bad)).toThrow(ExiError);
  });

  it('never relays a decoded name that is not a name: the element is refused, the stream ends with bad-format', async () => {
    const { fake, gw } = await gatewayToFakeServer();
    const w = new ExiBodyWriter();
    const got = await rawClient(gw.port, (write) => {
      write(w.element(streamStartXml({ xmlns: 'jabber:client', to: 'localhost', version: '1.0' })));
      // A message first, then an element whose name would end its own tag and open <injected/>.
      write(
        w.element(`<message xmlns='jabber:client' to='alice@localhost' id='ok'><body>fine</body></message>`),
      );
      write(
        w.body([
          { type: 'SD' },
          { type: 'SE', uri: 'jabber:client', localName: 'a x="1"/><injected/><b' },
          { type: 'EE' },
          { type: 'ED' },
        ]),
      );
      write(w.element(`<message xmlns='jabber:client' to='alice@localhost' id='after'/>`));
    });
    await expect.poll(() => gw.stats().open).toBe(0);
    // Upstream saw the stream, the first message, and then only the end of the stream.
    expect(fake.opens).toBe(1);
    expect(fake.received.map((el) => el.attrs.id)).toEqual(['ok']);
    expect(fake.received.some((el) => el.toString().includes('injected'))).toBe(false);
    expect(got.join('')).toContain('<bad-format xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>');
    expect(got.at(-1)).toContain('streamEnd');
    expect(gw.stats().rejected).toBe(1);
  });
});
