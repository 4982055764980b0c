/**
 * A test provisioning server as an external component (XEP-0114), so that things can find it by service
 * discovery of their XMPP server (XEP-0324 §3.1). A minimal component: the accept handshake, disco#info with
 * urn:xmpp:iot:provisioning, and the provisioning answers of provisioning-server.ts. Written here because
 * @xmpp/component has no 0.14 release.
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { xml } from '@xmpp/client';
import { Parser } from '@xmpp/xml';
import type { Element } from '@xmpp/xml';
import { NS } from '../../src/xmpp/ns.js';
import { NS_PROVISIONING } from '../../src/iot/provisioning.js';
import { provisioningAnswerer } from './provisioning-server.js';

const NS_ACCEPT = 'jabber:component:accept';

export async function startProvisioningComponent(opts: { port: number; name: string; secret: string }) {
  const { rules, questions, answer } = provisioningAnswerer();
  const socket: Socket = connect(opts.port, '127.0.0.1');
  const parser = new Parser();
  const send = (el: Element) => socket.write(el.toString());
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    parser.on('start', (el: Element) => {
      const digest = createHash('sha1').update(`${el.attrs.id}${opts.secret}`).digest('hex');
      socket.write(`<handshake>${digest}</handshake>`);
    });
    parser.on('element', (el: Element) => {
      if (el.name === 'handshake') return resolve();
      if (el.name === 'stream:error') return reject(new Error(`component refused: ${el.toString()}`));
      if (!el.is('iq') || (el.attrs.type !== 'get' && el.attrs.type !== 'set')) return;
      const query = el.getChildElements()[0];
      const reply = (type: string, ...children: Element[]) =>
        send(xml('iq', { type, id: el.attrs.id, to: el.attrs.from, from: opts.name }, ...children));
      if (query?.is('query', NS.discoInfo)) {
        reply(
          'result',
          xml(
            'query',
            { xmlns: NS.discoInfo },
            xml('identity', { category: 'component', type: 'generic', name: 'Test provisioning server' }),
            xml('feature', { var: NS.discoInfo }),
            xml('feature', { var: NS_PROVISIONING }),
          ),
        );
        return;
      }
      const payload = query ? answer(query) : undefined;
      if (payload) reply('result', payload);
      else
        reply('error', xml('error', { type: 'cancel' }, xml('service-unavailable', { xmlns: NS.stanzas })));
    });
    socket.on('data', (d) => parser.write(d.toString('utf8')));
    socket.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS_ACCEPT}' xmlns:stream='http://etherx.jabber.org/streams' to='${opts.name}'>`,
    );
  });
  return {
    jid: opts.name,
    rules,
    questions,
    stop: () =>
      new Promise<void>((resolve) => {
        socket.end('</stream:stream>', () => resolve());
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 500);
      }),
  };
}
