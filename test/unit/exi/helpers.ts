import { type ExiEvent, parseXml } from '../../../src/exi/index.js';

type Node =
  | { k: 'el'; name: string; attrs: string[]; children: Node[] }
  | { k: 'text'; v: string }
  | { k: 'cm'; v: string }
  | { k: 'pi'; v: string };

/**
 * Canonical form of a document for comparisons: expanded names, attributes sorted, namespace
 * declarations and prefixes ignored, adjacent text merged, whitespace-only text dropped from
 * elements that have child elements.
 */
export function canonicalXml(xml: string): Node[] {
  return canonicalEvents(parseXml(xml));
}

export function canonicalEvents(events: readonly ExiEvent[]): Node[] {
  const root: Node[] = [];
  const stack: Node[][] = [root];
  const elems: Extract<Node, { k: 'el' }>[] = [];
  for (const e of events) {
    const children = stack.at(-1) as Node[];
    switch (e.type) {
      case 'SE': {
        const el: Extract<Node, { k: 'el' }> = {
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
        (elems.at(-1) as Extract<Node, { k: 'el' }>).attrs.push(`{${e.uri}}${e.localName}=${e.value}`);
        break;
      case 'EE': {
        const el = elems.pop() as Extract<Node, { k: 'el' }>;
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

function normalizeChildren(children: Node[]): Node[] {
  const hasElement = children.some((c) => c.k === 'el');
  return hasElement ? children.filter((c) => !(c.k === 'text' && c.v.trim() === '')) : children;
}

/** A seeded pseudo-random generator (mulberry32) in [0, 1): the same seed gives the same documents. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
