/**
 * The readout ceiling (issue 12): a bare @xmpp/client (TCP_NODELAY, as our transport sets it) that answers a
 * XEP-0323 request with the two stanzas the agent sends, the `accepted` IQ result and one `fields` message with
 * done='true', carrying the agent's own `<node/>` (the same fields and values, so the same size), and does no
 * other work: no access check, no parsing of the request beyond its seqnr, no device.
 *   node minimal-responder.js SERVICE USERNAME PASSWORD RESOURCE NODE_JSON
 * NODE_JSON: the `<node/>` element as `{ name, attrs, children }` (see toJson in scenarios/readout.ts).
 */
import { client, xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { NS } from '../src/xmpp/ns.js';

export interface JsonElement {
  name: string;
  attrs: Record<string, string>;
  children: Array<JsonElement | string>;
}

const fromJson = (j: JsonElement): Element =>
  xml(j.name, j.attrs, ...j.children.map((c) => (typeof c === 'string' ? c : fromJson(c))));

const [service, username, password, resource, nodeJson] = process.argv.slice(2) as string[];
const node = fromJson(JSON.parse(nodeJson as string) as JsonElement);
const xmpp = client({ service, domain: 'localhost', username, password, resource });
xmpp.on('error', () => undefined);
xmpp.on('connect', () =>
  (xmpp as unknown as { socket: { setNoDelay(v: boolean): void } }).socket.setNoDelay(true),
);
xmpp.iqCallee.get(NS.sensordata, 'req', ({ stanza, element }: { stanza: Element; element: Element }) => {
  const seqnr = element.attrs.seqnr as string;
  // After the IQ result, as the agent does: the requester must see `accepted` before `fields`.
  setImmediate(
    () =>
      void xmpp.send(
        xml(
          'message',
          { to: stanza.attrs.from },
          xml('fields', { xmlns: NS.sensordata, seqnr, done: 'true' }, node),
        ),
      ),
  );
  return xml('accepted', { xmlns: NS.sensordata, seqnr });
});
xmpp.on('online', (jid: { toString(): string }) =>
  process.stdout.write(`${JSON.stringify({ event: 'ready', jid: jid.toString() })}\n`),
);
process.on('SIGTERM', () => void xmpp.stop().finally(() => process.exit(0)));
await xmpp.start();
