/**
 * XML 1.0 (Fifth Edition) names and the other pieces of markup a decoder writes out as they are: what a decoded
 * name, comment or processing instruction must be before it may become XML text. A decoder that wrote a local
 * name `a x="1"/><injected/><b` unchecked would turn one element into three.
 */
import { ExiError } from './bits.js';

/** NameStartChar and NameChar of XML 1.0 §2.3, without ':' (Namespaces in XML §3, NCName). */
const NC_START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D' +
  '\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NC_CHAR = `${NC_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040`;
// Combining marks (U+0300-U+036F) are NameChars of their own here, not parts of another character.
// eslint-disable-next-line no-misleading-character-class
const NCNAME_RE = new RegExp(`^[${NC_START}][${NC_CHAR}]*$`, 'u');

/** Whether `s` is an NCName (a name without a colon): a local name, a prefix, a PI target. */
export function isNCName(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  // ASCII names (nearly all of them) without the regular expression.
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return NCNAME_RE.test(s);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f) continue;
    if (i === 0 || !((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d)) return false;
  }
  return true;
}

/** Whether `s` is a QName: an NCName, or two joined by one colon. */
export function isQName(s: string): boolean {
  const colon = s.indexOf(':');
  return colon < 0 ? isNCName(s) : isNCName(s.slice(0, colon)) && isNCName(s.slice(colon + 1));
}

/** A comment's text (XML 1.0 §2.5): no `--`, and not ending in `-` (that would make `--->`). */
export function checkComment(text: string): void {
  if (text.includes('--') || text.endsWith('-')) {
    throw new ExiError("comment contains '--' or ends with '-'");
  }
}

/**
 * A processing instruction (XML 1.0 §2.6): the target a name (an NCName, Namespaces in XML §7) other than `xml`
 * in any case, the data without `?>`.
 */
export function checkPi(target: string, data: string): void {
  if (!isNCName(target) || target.toLowerCase() === 'xml') {
    throw new ExiError(`processing instruction target '${target.slice(0, 64)}' is not allowed`);
  }
  if (data.includes('?>')) throw new ExiError("processing instruction data contains '?>'");
}
