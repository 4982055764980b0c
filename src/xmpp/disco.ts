/**
 * XEP-0030 service discovery and XEP-0115 entity capabilities.
 * disco#info is answered to anyone (servers and clients verify caps with it); disco#items, which lists the
 * devices, only to those allowed to read them.
 * https://xmpp.org/extensions/xep-0030.html, https://xmpp.org/extensions/xep-0115.html §5.1 (ver string)
 */
import { createHash } from 'node:crypto';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { NS } from './ns.js';
import { stanzaError } from './stanza-errors.js';
import type { Transport } from './transport.js';

export interface Identity {
  category: string;
  type: string;
  name?: string;
  lang?: string;
}

export interface DiscoItem {
  node: string;
  name: string;
  /** Features answered for disco#info on this node. */
  features: string[];
}

export interface DiscoOptions {
  identity: Identity;
  features: readonly string[];
  /** The caps node: a URI naming the software. */
  capsNode: string;
  items?: () => DiscoItem[];
  /** May this requester list items? (Absent: everyone.) */
  canListItems?: (from: string) => boolean | Promise<boolean>;
  /** Other item lists by node (e.g. XEP-0050's command list), answered to anyone with what `list` returns. */
  nodeItems?: Record<string, (from: string) => Promise<{ node: string; name: string }[]>>;
}

/** XEP-0115 §5.1 verification string, hashed with SHA-1 and base64-encoded. */
export function capsVer(identities: readonly Identity[], features: readonly string[]): string {
  const ids = identities.map((i) => `${i.category}/${i.type}/${i.lang ?? ''}/${i.name ?? ''}`).sort();
  const s = `${ids.map((i) => `${i}<`).join('')}${[...new Set(features)]
    .sort()
    .map((f) => `${f}<`)
    .join('')}`;
  return createHash('sha1').update(s, 'utf8').digest('base64');
}

export function createDisco(transport: Transport, options: DiscoOptions) {
  const features = [...new Set([NS.discoInfo, NS.discoItems, NS.caps, ...options.features])].sort();
  const identity = options.identity;
  const ver = capsVer([identity], features);
  const items = options.items ?? (() => []);
  const identityEl = () =>
    xml('identity', {
      category: identity.category,
      type: identity.type,
      ...(identity.name ? { name: identity.name } : {}),
    });

  transport.handleIq('get', NS.discoInfo, 'query', (_stanza, query) => {
    const node = query.attrs.node as string | undefined;
    if (node === undefined || node === `${options.capsNode}#${ver}`) {
      return xml(
        'query',
        { xmlns: NS.discoInfo, ...(node ? { node } : {}) },
        identityEl(),
        ...features.map((v) => xml('feature', { var: v })),
      );
    }
    const item = items().find((i) => i.node === node);
    if (!item) return stanzaError('item-not-found', `unknown node ${node}`);
    return xml(
      'query',
      { xmlns: NS.discoInfo, node },
      xml('identity', { category: 'client', type: 'bot', name: item.name }),
      ...[NS.discoInfo, ...item.features].map((v) => xml('feature', { var: v })),
    );
  });

  transport.handleIq('get', NS.discoItems, 'query', async (stanza, query) => {
    const node = query.attrs.node as string | undefined;
    const list = node !== undefined ? options.nodeItems?.[node] : undefined;
    if (list) {
      const self = transport.jid ?? transport.bareJid;
      const entries = await list(stanza.attrs.from as string);
      return xml(
        'query',
        { xmlns: NS.discoItems, node },
        ...entries.map((i) => xml('item', { jid: self, node: i.node, name: i.name })),
      );
    }
    if (options.canListItems && !(await options.canListItems(stanza.attrs.from as string))) {
      return stanzaError('forbidden', 'not allowed to list the devices');
    }
    if (node === undefined) {
      const self = transport.jid ?? transport.bareJid;
      return xml(
        'query',
        { xmlns: NS.discoItems },
        ...items().map((i) => xml('item', { jid: self, node: i.node, name: i.name })),
      );
    }
    if (!items().some((i) => i.node === node)) return stanzaError('item-not-found', `unknown node ${node}`);
    return xml('query', { xmlns: NS.discoItems, node });
  });

  return {
    ver,
    features,
    /** The `<c/>` element for presence. */
    caps: () => xml('c', { xmlns: NS.caps, hash: 'sha-1', node: options.capsNode, ver }),
  };
}

/** Parses a disco#info result: identities and features. */
export function parseDiscoInfo(query: Element): { identities: Identity[]; features: string[] } {
  return {
    identities: query.getChildren('identity').map((i) => ({
      category: i.attrs.category as string,
      type: i.attrs.type as string,
      ...(i.attrs.name ? { name: i.attrs.name as string } : {}),
      ...(i.attrs['xml:lang'] ? { lang: i.attrs['xml:lang'] as string } : {}),
    })),
    features: query.getChildren('feature').map((f) => f.attrs.var as string),
  };
}
