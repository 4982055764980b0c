/**
 * XEP-0324 (Provisioning) vocabulary: the questions a thing asks and the decisions it gets, without I/O
 * (https://xmpp.org/extensions/xep-0324.html). The thing-side client is src/agent/provisioning.ts.
 */
import type { Element } from '@xmpp/xml';
import type { FieldTypeFlag } from '../model/fields.js';

export const NS_PROVISIONING = 'urn:xmpp:iot:provisioning';

export interface Tokens {
  serviceToken?: string;
  deviceToken?: string;
  userToken?: string;
}

/** `nodes`/`names` undefined = everything asked for is allowed; a list = only those. */
export interface Decision {
  allowed: boolean;
  nodes?: string[];
  names?: string[];
}

export interface ReadQuestion {
  types: readonly FieldTypeFlag[];
  nodes: readonly string[];
  fields: readonly string[];
  tokens: Tokens;
}

export interface ControlQuestion {
  nodes: readonly string[];
  parameters: readonly string[];
  tokens: Tokens;
}

const DENY: Decision = { allowed: false };

/** Most permissive of several answers: any yes wins; an unrestricted yes wins over restricted ones. */
export function mostPermissive(decisions: readonly Decision[]): Decision {
  const yes = decisions.filter((d) => d.allowed);
  if (yes.length === 0) return DENY;
  const union = (pick: (d: Decision) => string[] | undefined) =>
    yes.some((d) => pick(d) === undefined) ? undefined : [...new Set(yes.flatMap((d) => pick(d) ?? []))];
  const nodes = union((d) => d.nodes);
  const names = union((d) => d.names);
  return { allowed: true, ...(nodes ? { nodes } : {}), ...(names ? { names } : {}) };
}

/** The XEP-0324 tokens a request carries (serviceToken, deviceToken, userToken), for the provisioning server. */
export function tokensOf(el: Element): Tokens {
  const a = el.attrs as Record<string, string | undefined>;
  return {
    ...(a.serviceToken ? { serviceToken: a.serviceToken } : {}),
    ...(a.deviceToken ? { deviceToken: a.deviceToken } : {}),
    ...(a.userToken ? { userToken: a.userToken } : {}),
  };
}
