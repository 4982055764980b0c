/**
 * Validates XMPP payloads against the XEP schemas in test/fixtures/xsd (provenance and corrections: the README
 * there) with xmllint (Debian libxml2-utils), offline. For the hub's registry answers today and its provisioning
 * answers next:
 *
 *   const problems = await validateStanza(iqResult);   // [] when every child element is valid
 *
 * A payload is chosen by its namespace; an `<error/>` child is checked against RFC 6120's stanza error shape.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Element } from '@xmpp/xml';

const dir = (name: string) => fileURLToPath(new URL(`../fixtures/xsd/${name}`, import.meta.url));

/** Schema file by namespace. */
export const SCHEMAS: Record<string, string> = {
  'urn:xmpp:iot:discovery': dir('xep-0347-discovery.xsd'),
  'urn:xmpp:iot:provisioning': dir('xep-0324-provisioning.xsd'),
  'urn:xmpp:iot:sensordata': dir('xep-0323-sensordata.xsd'),
  'jabber:client': dir('rfc6120-stanza-error.xsd'),
};

/** xmllint's complaints about `xmlText` against `schema` ([] when valid). */
export function validateXml(xmlText: string, schema: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'xmllint',
      ['--noout', '--nonet', '--schema', schema, '-'],
      { timeout: 20_000 },
      (err, _stdout, stderr) => {
        const lines = stderr
          .split('\n')
          .filter((l) => l && l !== '- validates' && l !== '- fails to validate');
        if (err && !lines.length) reject(err);
        else resolve(lines);
      },
    );
    child.stdin?.end(xmlText);
  });
}

/**
 * One element on its own, against the schema of its namespace; fails (with a problem) when no schema covers it.
 * An `<error/>` without its own xmlns is a stanza's error (jabber:client).
 */
export async function validateElement(el: Element): Promise<string[]> {
  const stanzaError = el.name === 'error' && !el.attrs.xmlns;
  const ns = stanzaError ? 'jabber:client' : (el.attrs.xmlns as string | undefined);
  const schema = ns ? SCHEMAS[ns] : undefined;
  if (!schema) return [`<${el.name}/>: no schema for namespace ${ns ?? '(none)'}`];
  const text = el.toString();
  return validateXml(stanzaError ? text.replace(/^<error/, '<error xmlns="jabber:client"') : text, schema);
}

/** Every child element of a stanza (an IQ's payload and error, a message's payloads). */
export async function validateStanza(stanza: Element): Promise<string[]> {
  const problems: string[] = [];
  for (const child of stanza.getChildElements()) problems.push(...(await validateElement(child)));
  return problems;
}
