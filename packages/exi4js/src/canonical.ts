/**
 * A canonical form of XML documents for comparing them as EXI sees them: the same elements, attributes, text,
 * comments and PIs, whatever the prefixes, the attribute order and the placement of namespace declarations
 * (EXI does not keep them unless told to). Used to check round trips against reference vectors.
 */
import type { ExiEvent } from './types.js';
import { parseXml } from './xml.js';

export type CanonicalNode =
  | { k: 'el'; name: string; attrs: string[]; children: CanonicalNode[] }
  | { k: 'text'; v: string }
  | { k: 'cm'; v: string }
  | { k: 'pi'; v: string };

/**
 * Canonical form of a document for comparisons: expanded names, attributes sorted, namespace
 * declarations and prefixes ignored, adjacent text merged, whitespace-only text dropped from
 * elements that have child elements.
 */
export function canonicalXml(xml: string): CanonicalNode[] {
  return canonicalEvents(parseXml(xml));
}

export function canonicalEvents(events: readonly ExiEvent[]): CanonicalNode[] {
  const root: CanonicalNode[] = [];
  const stack: CanonicalNode[][] = [root];
  const elems: Extract<CanonicalNode, { k: 'el' }>[] = [];
  for (const e of events) {
    const children = stack.at(-1) as CanonicalNode[];
    switch (e.type) {
      case 'SE': {
        const el: Extract<CanonicalNode, { k: 'el' }> = {
          k: 'el',
          name: `{${e.uri}}${e.localName}`,
          attrs: [],
          children: [],
        };
        children.push(el);
        stack.push(el.children);
        elems.push(el);
        break;
      }
      case 'AT':
        (elems.at(-1) as Extract<CanonicalNode, { k: 'el' }>).attrs.push(
          `{${e.uri}}${e.localName}=${e.value}`,
        );
        break;
      case 'EE': {
        const el = elems.pop() as Extract<CanonicalNode, { k: 'el' }>;
        el.attrs.sort();
        stack.pop();
        el.children = normalizeChildren(el.children);
        break;
      }
      case 'CH': {
        const last = children.at(-1);
        if (last?.k === 'text') last.v += e.value;
        else children.push({ k: 'text', v: e.value });
        break;
      }
      case 'CM':
        children.push({ k: 'cm', v: e.text });
        break;
      case 'PI':
        children.push({ k: 'pi', v: `${e.target} ${e.data}` });
        break;
      default:
        break;
    }
  }
  return normalizeChildren(root);
}

function normalizeChildren(children: CanonicalNode[]): CanonicalNode[] {
  const hasElement = children.some((c) => c.k === 'el');
  return hasElement ? children.filter((c) => !(c.k === 'text' && c.v.trim() === '')) : children;
}
