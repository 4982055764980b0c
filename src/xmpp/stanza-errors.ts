/**
 * RFC 6120 §8.3 stanza errors. Handlers return `stanzaError(...)` (an `<error/>` element); @xmpp/iq's callee
 * wraps it into the `iq type='error'` reply. One table maps our error codes to conditions.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import type { IotErrorCode } from '../core/errors.js';
import { NS } from './ns.js';

export type ErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';
export type Condition =
  | 'bad-request'
  | 'conflict'
  | 'feature-not-implemented'
  | 'forbidden'
  | 'internal-server-error'
  | 'item-not-found'
  | 'not-acceptable'
  | 'not-allowed'
  | 'not-authorized'
  | 'policy-violation'
  | 'remote-server-timeout'
  | 'resource-constraint'
  | 'service-unavailable'
  | 'unexpected-request';

const DEFAULT_TYPE: Record<Condition, ErrorType> = {
  'bad-request': 'modify',
  conflict: 'cancel',
  'feature-not-implemented': 'cancel',
  // XEP-0323 §2.3 uses cancel/forbidden for readouts without privilege.
  forbidden: 'cancel',
  'internal-server-error': 'cancel',
  'item-not-found': 'cancel',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'not-authorized': 'auth',
  // A request over one of our limits (README "Limits"): change the request (RFC 6120 §8.3.3.12).
  'policy-violation': 'modify',
  'remote-server-timeout': 'wait',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
  'unexpected-request': 'wait',
};

export function stanzaError(condition: Condition, text?: string, ...extra: Element[]): Element {
  return xml(
    'error',
    { type: DEFAULT_TYPE[condition] },
    xml(condition, { xmlns: NS.stanzas }),
    ...(text ? [xml('text', { xmlns: NS.stanzas, 'xml:lang': 'en' }, text)] : []),
    ...extra,
  );
}

export const CONDITION_OF: Record<IotErrorCode, Condition> = {
  IOT_ERR_CONFIG: 'internal-server-error',
  IOT_ERR_DEVICE: 'internal-server-error',
  IOT_ERR_DEVICE_TIMEOUT: 'remote-server-timeout',
  IOT_ERR_FRAME: 'internal-server-error',
  IOT_ERR_STORE: 'internal-server-error',
  IOT_ERR_XMPP: 'internal-server-error',
  IOT_ERR_XMPP_TIMEOUT: 'remote-server-timeout',
  IOT_ERR_OFFLINE: 'remote-server-timeout',
  IOT_ERR_MISSING_DEPENDENCY: 'service-unavailable',
  IOT_ERR_STOPPED: 'service-unavailable',
  IOT_ERR_EXI: 'bad-request',
  IOT_ERR_EXI_UNSUPPORTED: 'feature-not-implemented',
  IOT_ERR_EXI_LIMIT: 'policy-violation',
};

/** The defined condition of an error reply (`<iq type='error'>` or a caught XMPPError), if any. */
export function conditionOf(error: Element | undefined): string | undefined {
  return error?.getChildElements().find((c) => c.attrs.xmlns === NS.stanzas && c.name !== 'text')?.name;
}

/**
 * The error for a request over one of the agent's limits (README "Limits"): names the setting and its value, never
 * echoes the request. Sizes and counts are `policy-violation` (modify: ask for less); momentary capacity and the
 * request rate are `resource-constraint` (wait: the same request succeeds later).
 */
export function limitError(setting: string, limit: number, what: string): Element {
  const transient = setting === 'readouts' || setting === 'queuedReadouts' || setting === 'requestRate';
  return stanzaError(
    transient ? 'resource-constraint' : 'policy-violation',
    `${what}: over limits.${setting} (${limit})`,
  );
}

/** At most `max` characters of peer input for a reply: longer text is cut and marked with "…" (no amplification). */
export function quote(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
