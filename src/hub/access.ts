/**
 * Who may see and control which thing, in one place (the dashboard, its API, and later ingest's per-owner views
 * ask here): an operator owns the things the registry says it claimed. Things listed in the hub config with
 * owners join here when that key exists. Anything else is "not found" to that operator: the API answers 404, not
 * 403, so that a thing's existence does not leak.
 */
import { bareOf } from '../xmpp/jid.js';
import type { HubStore, ThingRecord } from './store.js';

export interface ThingAccess {
  /** Whether `operator` (any JID form) owns the thing `jid` (any JID form). */
  ownsThing(operator: string, jid: string): boolean;
  /** The operator's things, by JID. */
  thingsOf(operator: string): ThingRecord[];
  /** The operator's record of a thing, or undefined when it is not theirs (or does not exist). */
  thingOf(operator: string, jid: string): ThingRecord | undefined;
}

export function createThingAccess(store: HubStore): ThingAccess {
  const thingOf = (operator: string, jid: string) => {
    const thing = store.getThing(bareOf(jid));
    return thing?.owner !== undefined && thing.owner === bareOf(operator) ? thing : undefined;
  };
  return {
    ownsThing: (operator, jid) => thingOf(operator, jid) !== undefined,
    thingsOf: (operator) => store.thingsOf(bareOf(operator)),
    thingOf,
  };
}
