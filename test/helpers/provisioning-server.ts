/**
 * A small XEP-0324 provisioning server for tests (the real one comes with the hub): a normal account that
 * befriends things and answers isFriend / canRead / canControl from rules the test sets, counting questions.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import type { XmppServer } from '../../src/devtools/xmpp-server.js';
import { bareOf } from '../../src/xmpp/jid.js';
import { NS_PROVISIONING } from '../../src/iot/provisioning.js';
import { createTransport, type Transport } from '../../src/xmpp/transport.js';
import { testLogger } from './agent.js';

/** undefined = refuse; true = allow everything asked; a list = allow only those. */
export interface Rules {
  friends: Set<string>;
  read: Map<string, true | { nodes?: string[]; fields?: string[] }>;
  control: Map<string, true | { nodes?: string[]; parameters?: string[] }>;
}

export interface TestProvisioningServer {
  transport: Transport;
  rules: Rules;
  questions: { kind: string; jid: string; tokens: Record<string, string> }[];
  clearCache(thing: string): Promise<Element>;
  unfriend(thing: string, jid: string): Promise<void>;
  stop(): Promise<void>;
}

/** The answers of a test provisioning server for its rules, recording each question. */
export function provisioningAnswerer() {
  const rules: Rules = { friends: new Set(), read: new Map(), control: new Map() };
  const questions: TestProvisioningServer['questions'] = [];
  const tokensOf = (el: Element) =>
    Object.fromEntries(
      ['serviceToken', 'deviceToken', 'userToken'].flatMap((k) =>
        el.attrs[k] ? [[k, el.attrs[k] as string]] : [],
      ),
    );
  /** The result payload for a question element, or undefined when it is not one. */
  const answer = (q: Element): Element | undefined => {
    if (q.attrs.xmlns !== NS_PROVISIONING || !q.attrs.jid) return undefined;
    const jid = bareOf(q.attrs.jid as string);
    if (q.name === 'isFriend') {
      questions.push({ kind: 'isFriend', jid, tokens: {} });
      return xml('isFriendResponse', { xmlns: NS_PROVISIONING, jid, result: String(rules.friends.has(jid)) });
    }
    if (q.name === 'canRead') {
      questions.push({ kind: 'canRead', jid, tokens: tokensOf(q) });
      const rule = rules.read.get(jid);
      return xml(
        'canReadResponse',
        { xmlns: NS_PROVISIONING, jid, result: String(rule !== undefined) },
        ...(rule && rule !== true
          ? [
              ...(rule.nodes ?? []).map((nodeId) => xml('node', { nodeId })),
              ...(rule.fields ?? []).map((name) => xml('field', { name })),
            ]
          : []),
      );
    }
    if (q.name === 'canControl') {
      questions.push({ kind: 'canControl', jid, tokens: tokensOf(q) });
      const rule = rules.control.get(jid);
      return xml(
        'canControlResponse',
        { xmlns: NS_PROVISIONING, jid, result: String(rule !== undefined) },
        ...(rule && rule !== true
          ? [
              ...(rule.nodes ?? []).map((nodeId) => xml('node', { nodeId })),
              ...(rule.parameters ?? []).map((name) => xml('parameter', { name })),
            ]
          : []),
      );
    }
    return undefined;
  };
  return { rules, questions, answer };
}

export async function startProvisioningServer(
  server: XmppServer,
  username: string,
  password: string,
): Promise<TestProvisioningServer> {
  const transport = createTransport(
    {
      service: server.service,
      domain: server.domain,
      username,
      password,
      resource: 'prov',
      reconnect: { minMs: 100, maxMs: 500 },
    },
    testLogger(),
  );
  const { rules, questions, answer } = provisioningAnswerer();
  for (const name of ['isFriend', 'canRead', 'canControl']) {
    transport.handleIq('get', NS_PROVISIONING, name, (_s, q) => answer(q) ?? false);
  }
  // Befriend every thing that asks.
  transport.on('stanza', (s: Element) => {
    if (s.is('presence') && s.attrs.type === 'subscribe') {
      void transport.send(xml('presence', { type: 'subscribed', to: bareOf(s.attrs.from as string) }));
    }
  });
  transport.on('online', () => void transport.send(xml('presence')));
  await transport.start();
  return {
    transport,
    rules,
    questions,
    clearCache: (thing) =>
      transport.request(xml('iq', { type: 'set', to: thing }, xml('clearCache', { xmlns: NS_PROVISIONING }))),
    unfriend: (thing, jid) =>
      transport.send(xml('message', { to: thing }, xml('unfriend', { xmlns: NS_PROVISIONING, jid }))),
    stop: () => transport.stop(),
  };
}
