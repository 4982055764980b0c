/**
 * The XEP-0324 provisioning server, hub side (urn:xmpp:iot:provisioning; iot-xeps.md §4): things claimed in the
 * hub's registry ask `isFriend`, `canRead`, `canControl` about someone else; the thing's owner (its registry
 * owner) decides, by rules (rules.ts) or, when no rule applies, when asked.
 *
 * Asking the owner: a chat message to the owner's bare JID says who asks what and how to answer (the hub's
 * "Pending requests" ad-hoc command, or `xiot rules allow`). The thing's question waits `askTimeoutMs` for the
 * answer, kept below the thing's own timeout (10 s in our agent, src/agent/provisioning.ts): a question that
 * times out at the thing is not cached there and is asked again at once, so we answer every question in time, and
 * a deny when the owner has not decided yet. The thing caches that deny, which keeps a waiting stranger from
 * asking (and the owner from being messaged) again and again. The question stays pending for `pendingTtlMs`;
 * when the owner then allows, the hub sends `clearCache` (the XEP's way of saying "decisions changed"), and a
 * `friend` recommendation when the requester became a friend, so the stranger's next request is allowed.
 * "Approve once" answers one question with yes: the waiting one, or the thing's next one, after which the
 * thing's cache is cleared again so that the question after it is asked anew. "Always" and "deny" become rules.
 *
 * When rules change, every thing they apply to gets `clearCache`, then `unfriend` for whoever was a friend and is
 * no longer, `friend` for whoever became one (§3.5; the thing double-checks with isFriend). A thing that is
 * offline gets them when it next asks something, or at the next retry: they are kept in the store until acked.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { FIELD_TYPE_FLAGS } from '../model/fields.js';
import { type Decision, NS_PROVISIONING } from '../iot/provisioning.js';
import {
  checkRule,
  describeRule,
  nameElement,
  NS_RULES,
  parseRuleElement,
  type Rule,
  type RuleAction,
  RuleError,
  type RuleInput,
  ruleElement,
} from '../iot/provisioning-rules.js';
import { bareOf } from '../xmpp/jid.js';
import { stanzaError } from '../xmpp/stanza-errors.js';
import type { Transport } from '../xmpp/transport.js';
import type { Notice, PendingQuestion, QuestionKind } from './provisioning-store.js';
import { answerFor, appliesToThing, friendDecision, ruleDecision, type ThingFacts } from './rules.js';
import type { HubStore, ThingRecord } from './store.js';

export interface ProvisioningOptions {
  /** How long a thing's question waits for the owner before it is answered with a deny. */
  askTimeoutMs: number;
  /** How long the owner may still decide a question after that (then it is forgotten). */
  pendingTtlMs: number;
  /** Questions waiting per owner; beyond this, new ones are denied without asking (no message flood). */
  maxPendingPerOwner: number;
  /** How long a thing has to acknowledge clearCache. */
  noticeTimeoutMs?: number;
  /** Notices not acknowledged are sent again this often. */
  retryMs?: number;
  /** After an "approve once" answer, the thing's cache is cleared this much later (after it stored the answer). */
  onceClearDelayMs?: number;
}

export type Verdict = 'once' | 'always' | 'deny';

/** A request of an owner the hub refuses; the front ends show the text (item-not-found or bad-request). */
export class OwnerRequestError extends Error {
  constructor(
    message: string,
    readonly condition: 'item-not-found' | 'bad-request' = 'bad-request',
  ) {
    super(message);
  }
}

const MAX_ASKED = 256;
const MAX_RULES_PER_OWNER = 1000;
const FLAGS = new Set<string>([...FIELD_TYPE_FLAGS, 'all', 'historical']);
const RETRYABLE = new Set(['service-unavailable', 'recipient-unavailable', 'remote-server-timeout']);

const actionOf = (kind: QuestionKind): RuleAction => (kind === 'control' ? 'control' : 'read');
const facts = (t: ThingRecord): ThingFacts => ({ jid: t.jid, tags: t.tags });

/** A pending question as the owner reads it (chat, ad-hoc commands). */
export function describeQuestion(
  p: Pick<PendingQuestion, 'requester' | 'kind' | 'thing' | 'nodes' | 'names'>,
) {
  const scope = [
    p.nodes.length ? `nodes ${p.nodes.join(', ')}` : '',
    p.names.length ? `${p.kind === 'control' ? 'parameters' : 'fields'} ${p.names.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  if (p.kind === 'friend')
    return `${p.requester} asks to become a friend of ${p.thing} (and so to receive everything it publishes)`;
  return `${p.requester} asks to ${p.kind} ${p.thing} (${scope || 'everything'})`;
}

export function createProvisioningServer(deps: {
  transport: Transport;
  store: HubStore;
  log: Logger;
  options: ProvisioningOptions;
}) {
  const { transport, store, log, options } = deps;
  const noticeMs = options.noticeTimeoutMs ?? 5000;
  const onceDelay = options.onceClearDelayMs ?? 1000;
  const waiters = new Map<number, Set<() => void>>();
  const timers = new Set<NodeJS.Timeout>();
  let retryTimer: NodeJS.Timeout | undefined;

  const later = (ms: number, run: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      run();
    }, ms);
    t.unref();
    timers.add(t);
  };

  // -- waiting for an owner ------------------------------------------------------------------------------------

  /** Resolves true when woken (the owner decided), false after `ms`. */
  function waitForOwner(id: number, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const set = waiters.get(id) ?? new Set();
      waiters.set(id, set);
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(() => {
        set.delete(wake);
        if (set.size === 0) waiters.delete(id);
        resolve(false);
      }, ms);
      set.add(wake);
    });
  }

  function wake(id: number): boolean {
    const woken = [...(waiters.get(id) ?? [])];
    waiters.delete(id);
    for (const w of woken) w();
    return woken.length > 0;
  }

  // -- notices to things ---------------------------------------------------------------------------------------

  const flushing = new Set<string>();
  const again = new Set<string>();

  /** Sends a thing its waiting notices: clearCache first (acknowledged), then friend/unfriend. */
  async function flush(thingJid: string): Promise<void> {
    if (flushing.has(thingJid)) {
      again.add(thingJid);
      return;
    }
    flushing.add(thingJid);
    try {
      const notices = store.noticesFor(thingJid);
      if (!notices.length) return;
      const thing = store.getThing(thingJid);
      if (!thing?.owner) {
        for (const n of notices) store.removeNotice(n);
        return;
      }
      const clear = notices.find((n) => n.kind === 'clearCache');
      if (clear) {
        // Taken out before sending: a rule change while it is on its way adds a new one, sent after it.
        store.removeNotice(clear);
        try {
          await transport.request(
            xml('iq', { type: 'set', to: thing.address }, xml('clearCache', { xmlns: NS_PROVISIONING })),
            noticeMs,
          );
          log.info({ thing: thingJid }, 'the thing cleared its provisioning cache');
        } catch (err) {
          const condition = (err as { condition?: string }).condition;
          if (condition && !RETRYABLE.has(condition)) {
            // It refuses us (it does not use this hub as its provisioning server): nothing to retry.
            log.warn({ thing: thingJid, condition }, 'a thing refused clearCache; its notices are dropped');
            for (const n of notices) store.removeNotice(n);
          } else {
            store.addNotice(clear);
            log.info(
              { thing: thingJid, err: errorMessage(err) },
              'clearCache not acknowledged; retrying later',
            );
          }
          return;
        }
      }
      for (const n of notices.filter((x) => x.kind !== 'clearCache')) {
        await transport.send(
          xml('message', { to: thingJid }, xml(n.kind, { xmlns: NS_PROVISIONING, jid: n.jid })),
        );
        store.removeNotice(n);
        log.info(
          { thing: thingJid, jid: n.jid },
          n.kind === 'friend' ? 'recommended a friend' : 'asked to unfriend',
        );
      }
    } catch (err) {
      log.warn({ thing: thingJid, err: errorMessage(err) }, 'could not send provisioning notices');
    } finally {
      flushing.delete(thingJid);
      if (again.delete(thingJid)) void flush(thingJid);
    }
  }

  function notify(thing: string, notices: Omit<Notice, 'thing'>[]): void {
    for (const n of notices) store.addNotice({ thing, ...n });
    if (transport.online) void flush(thing);
  }

  // -- rule changes --------------------------------------------------------------------------------------------

  /** The things of `owner` a rule applies to. */
  const thingsUnder = (owner: string, rule: RuleInput) =>
    store.thingsOf(owner).filter((t) => appliesToThing(rule, facts(t)));

  /** Requesters whose friendship a rule may change on a thing: its JID, or who asked the thing from its domain. */
  const requestersUnder = (rule: RuleInput, thing: string) =>
    rule.requester.includes('@')
      ? [rule.requester]
      : store.askersOf(thing).filter((a) => a === rule.requester || a.endsWith(`@${rule.requester}`));

  /** Runs `change` on `owner`'s rules, then tells the affected things and settles what the change decides. */
  function changeRules<T>(owner: string, touched: RuleInput[], change: () => T): T {
    const affected = new Map<string, { thing: ThingRecord; requesters: Set<string> }>();
    for (const rule of touched)
      for (const thing of thingsUnder(owner, rule)) {
        const entry = affected.get(thing.jid) ?? { thing, requesters: new Set<string>() };
        for (const r of requestersUnder(rule, thing.jid)) entry.requesters.add(r);
        affected.set(thing.jid, entry);
      }
    const friendNow = (thing: ThingRecord, r: string) =>
      friendDecision(store.rulesOf(owner), facts(thing), r) === true;
    const before = new Map(
      [...affected.values()].map(({ thing, requesters }) => [
        thing.jid,
        new Map([...requesters].map((r) => [r, friendNow(thing, r)])),
      ]),
    );
    const result = change();
    for (const { thing, requesters } of affected.values()) {
      const notices: Omit<Notice, 'thing'>[] = [{ kind: 'clearCache', jid: '' }];
      for (const r of requesters) {
        const was = before.get(thing.jid)?.get(r) ?? false;
        const is = friendNow(thing, r);
        if (was && !is) notices.push({ kind: 'unfriend', jid: r });
        if (!was && is) notices.push({ kind: 'friend', jid: r });
      }
      notify(thing.jid, notices);
    }
    // Questions the rules now decide are no longer pending: the waiting ones are answered from the rules.
    const rules = store.rulesOf(owner);
    for (const p of store.pendingOf(owner)) {
      const thing = store.getThing(p.thing);
      if (!thing || thing.owner !== owner) continue;
      const decided =
        p.kind === 'friend'
          ? friendDecision(rules, facts(thing), p.requester) !== undefined
          : ruleDecision(rules, facts(thing), p.requester, p.kind) !== undefined;
      if (decided) {
        store.removePending(p.id);
        wake(p.id);
      }
    }
    return result;
  }

  // -- answering things ----------------------------------------------------------------------------------------

  /** What rules or an "approve once" say, or undefined when the owner has not decided. */
  function settled(
    thing: ThingRecord,
    requester: string,
    kind: QuestionKind,
    asked: Asked,
  ): Decision | undefined {
    const rules = store.rulesOf(thing.owner as string);
    if (kind === 'friend') {
      const friend = friendDecision(rules, facts(thing), requester);
      if (friend !== undefined) return { allowed: friend };
    } else {
      const decision = ruleDecision(rules, facts(thing), requester, kind);
      if (decision) return answerFor(decision, asked);
    }
    const p = store.findPending(thing.jid, requester, kind);
    if (p?.granted) {
      store.removePending(p.id);
      // Once means once: the thing forgets this yes after storing it, and asks again next time.
      later(onceDelay, () => notify(thing.jid, [{ kind: 'clearCache', jid: '' }]));
      log.info({ thing: thing.jid, requester, kind }, 'answered once, as the owner approved');
      return answerFor(
        {
          allowed: true,
          ...(p.nodes.length ? { nodes: p.nodes } : {}),
          ...(p.names.length ? { names: p.names } : {}),
        },
        asked,
      );
    }
    return undefined;
  }

  interface Asked {
    nodes: string[];
    names: string[];
  }

  async function decide(
    from: string,
    requester: string,
    kind: QuestionKind,
    asked: Asked,
  ): Promise<Decision> {
    const thingJid = bareOf(from);
    const thing = store.getThing(thingJid);
    // Only things claimed here: for anything else this hub knows no owner to decide.
    if (!thing?.owner) return { allowed: false };
    if (thing.address !== from) store.setAddress(thingJid, from);
    store.rememberAsker(thingJid, requester);
    if (store.noticesFor(thingJid).length) void flush(thingJid);
    if (requester === thing.owner) return { allowed: true };
    const now = settled(thing, requester, kind, asked);
    if (now) return now;

    store.expirePending(Date.now() - options.pendingTtlMs);
    let p = store.findPending(thingJid, requester, kind);
    if (!p) {
      if (store.pendingOf(thing.owner).length >= options.maxPendingPerOwner) {
        log.warn(
          { owner: thing.owner, requester },
          'too many questions pending for this owner: denied without asking',
        );
        return { allowed: false };
      }
      p = store.addPending({
        owner: thing.owner,
        thing: thingJid,
        requester,
        kind,
        nodes: asked.nodes,
        names: asked.names,
        askedAt: Date.now(),
      });
      await tellOwner(p);
    }
    if (await waitForOwner(p.id, options.askTimeoutMs)) {
      const fresh = store.getThing(thingJid);
      return (fresh?.owner && settled(fresh, requester, kind, asked)) || { allowed: false };
    }
    store.markPending(p.id, { answered: true });
    log.info(
      { thing: thingJid, requester, kind, request: p.id },
      'the owner has not decided yet: denied for now',
    );
    return { allowed: false };
  }

  async function tellOwner(p: PendingQuestion): Promise<void> {
    const action = actionOf(p.kind);
    const body =
      `${describeQuestion(p)}. Request #${p.id}: answer with the "Pending requests" command of ` +
      `${transport.bareJid} in your XMPP client (approve once, always, or deny), or run: ` +
      `xiot rules allow ${p.thing} ${p.requester} --${action} --hub ${transport.bareJid}` +
      ` (until you decide, ${p.requester} is refused).`;
    try {
      await transport.send(xml('message', { to: p.owner, type: 'chat' }, xml('body', {}, body)));
      log.info(
        { owner: p.owner, thing: p.thing, requester: p.requester, kind: p.kind, request: p.id },
        'asked the owner',
      );
    } catch (err) {
      log.warn({ owner: p.owner, err: errorMessage(err) }, 'could not ask the owner');
    }
  }

  function askedOf(el: Element, kind: QuestionKind): Asked | Element {
    if (kind === 'friend') return { nodes: [], names: [] };
    const nodes = el.getChildren('node').map((n) => String(n.attrs.nodeId ?? ''));
    const names = el.getChildren(nameElement(kind)).map((n) => String(n.attrs.name ?? ''));
    if (nodes.length > MAX_ASKED || names.length > MAX_ASKED)
      return stanzaError(
        'policy-violation',
        `at most ${MAX_ASKED} nodes and ${MAX_ASKED} names in a question`,
      );
    if (nodes.includes('') || names.includes(''))
      return stanzaError('bad-request', 'a node needs nodeId, a name needs name');
    return { nodes: [...new Set(nodes)], names: [...new Set(names)] };
  }

  const RESPONSE: Record<QuestionKind, string> = {
    friend: 'isFriendResponse',
    read: 'canReadResponse',
    control: 'canControlResponse',
  };

  async function question(stanza: Element, el: Element, kind: QuestionKind): Promise<Element> {
    const raw = el.attrs.jid as string | undefined;
    if (!raw || raw.length > 3071) return stanzaError('bad-request', `${el.name} needs jid`);
    let requester: string;
    try {
      requester = bareOf(raw);
    } catch {
      return stanzaError('bad-request', 'jid is not a JID');
    }
    const asked = askedOf(el, kind);
    if (!('nodes' in asked)) return asked;
    const d = await decide(stanza.attrs.from as string, requester, kind, asked);
    const flags =
      kind === 'read'
        ? Object.fromEntries(Object.entries(el.attrs).filter(([k, v]) => FLAGS.has(k) && v === 'true'))
        : {};
    return xml(
      RESPONSE[kind],
      { xmlns: NS_PROVISIONING, jid: requester, result: String(d.allowed), ...flags },
      ...(d.allowed ? (d.nodes ?? []).map((nodeId) => xml('node', { nodeId })) : []),
      ...(d.allowed && kind !== 'friend'
        ? (d.names ?? []).map((name) => xml(nameElement(kind), { name }))
        : []),
    );
  }

  // -- what owners do (ad-hoc commands, xiot rules) ------------------------------------------------------------

  const owned = (owner: string, jid: string) => {
    const thing = store.getThing(jid);
    return thing?.owner === owner ? thing : undefined;
  };

  const api = {
    things: (owner: string) => store.thingsOf(owner),
    rules: (owner: string) => store.rulesOf(owner),
    pending(owner: string): PendingQuestion[] {
      store.expirePending(Date.now() - options.pendingTtlMs);
      return store.pendingOf(owner);
    },
    /** Adds (or replaces) a rule; a thing rule only for a thing of the owner. Throws RuleError/OwnerRequestError. */
    addRule(owner: string, input: RuleInput): Rule {
      const rule = checkRule(input);
      if (rule.thing !== undefined && !owned(owner, rule.thing))
        throw new OwnerRequestError(`you own no thing ${rule.thing} here`, 'item-not-found');
      if (rule.requester === owner) throw new RuleError('you are the owner: you are always allowed');
      // Rules cost the hub's disk: only owners make them, and a bounded number each.
      if (!store.thingsOf(owner).length)
        throw new OwnerRequestError('you own no things here: claim one first', 'item-not-found');
      const previous = store
        .rulesOf(owner)
        .find(
          (r) =>
            r.requester === rule.requester &&
            r.action === rule.action &&
            r.thing === rule.thing &&
            r.tag?.name === rule.tag?.name &&
            r.tag?.value === rule.tag?.value,
        );
      if (!previous && store.rulesOf(owner).length >= MAX_RULES_PER_OWNER)
        throw new RuleError(`at most ${MAX_RULES_PER_OWNER} rules each: remove some first`);
      const added = changeRules(owner, [rule, ...(previous ? [previous] : [])], () =>
        store.addRule(owner, rule),
      );
      log.info({ owner, rule: describeRule(added), id: added.id }, 'rule added');
      return added;
    },
    removeRule(owner: string, id: number): Rule {
      const rule = store.rulesOf(owner).find((r) => r.id === id);
      if (!rule) throw new OwnerRequestError(`you have no rule #${id}`, 'item-not-found');
      changeRules(owner, [rule], () => store.removeRule(owner, id));
      log.info({ owner, rule: describeRule(rule), id }, 'rule removed');
      return rule;
    },
    /**
     * The owner's answer to a pending question. `always`/`deny` become rules for this thing and requester
     * (`always` narrowed to what was asked, or to `narrow`); `once` answers one question.
     */
    answer(owner: string, id: number, verdict: Verdict, narrow: { nodes?: string[]; names?: string[] } = {}) {
      const p = store.getPending(id);
      if (!p || p.owner !== owner)
        throw new OwnerRequestError(`no pending request #${id} of yours`, 'item-not-found');
      if (!owned(owner, p.thing)) {
        store.removePending(id);
        throw new OwnerRequestError(`${p.thing} is no longer yours`, 'item-not-found');
      }
      if (verdict === 'once') {
        store.markPending(id, { granted: true });
        // Nobody waiting: the thing was denied and cached it; clearing its cache lets the next question through.
        if (!wake(id)) notify(p.thing, [{ kind: 'clearCache', jid: '' }]);
        log.info({ owner, request: id }, 'approved once');
        return undefined;
      }
      const narrowed = {
        nodes: narrow.nodes?.length ? narrow.nodes : p.nodes,
        names: narrow.names?.length ? narrow.names : p.names,
      };
      return api.addRule(owner, {
        thing: p.thing,
        requester: p.requester,
        action: actionOf(p.kind),
        allow: verdict === 'always',
        ...(narrowed.nodes.length ? { nodes: narrowed.nodes } : {}),
        ...(narrowed.names.length && p.kind !== 'friend' ? { names: narrowed.names } : {}),
      });
    },
  };

  /** An owner request over the rules namespace, mapped to stanza errors with their text. */
  const asOwner = (run: () => Element | boolean) => {
    try {
      return run();
    } catch (err) {
      if (err instanceof RuleError) return stanzaError('bad-request', err.message);
      if (err instanceof OwnerRequestError) return stanzaError(err.condition, err.message);
      throw err;
    }
  };

  return {
    ...api,
    register() {
      transport.handleIq('get', NS_PROVISIONING, 'isFriend', (s, el) => question(s, el, 'friend'));
      transport.handleIq('get', NS_PROVISIONING, 'canRead', (s, el) => question(s, el, 'read'));
      transport.handleIq('get', NS_PROVISIONING, 'canControl', (s, el) => question(s, el, 'control'));
      transport.handleIq('get', NS_RULES, 'rules', (s) =>
        xml('rules', { xmlns: NS_RULES }, ...api.rules(bareOf(s.attrs.from as string)).map(ruleElement)),
      );
      transport.handleIq('set', NS_RULES, 'rule', (s, el) =>
        asOwner(() => ruleElement(api.addRule(bareOf(s.attrs.from as string), parseRuleElement(el)))),
      );
      transport.handleIq('set', NS_RULES, 'remove', (s, el) =>
        asOwner(() => {
          const id = Number(el.attrs.id);
          if (!Number.isSafeInteger(id)) throw new RuleError('remove needs id, a rule number');
          api.removeRule(bareOf(s.attrs.from as string), id);
          return true;
        }),
      );
      // Notices left from before a restart, and any a thing did not acknowledge, are sent again.
      transport.on('online', () => {
        for (const thing of store.noticeThings()) void flush(thing);
      });
      retryTimer = setInterval(() => {
        if (transport.online) for (const thing of store.noticeThings()) void flush(thing);
        store.expirePending(Date.now() - options.pendingTtlMs);
      }, options.retryMs ?? 60_000);
      retryTimer.unref();
    },
    stop() {
      clearInterval(retryTimer);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const id of [...waiters.keys()]) wake(id);
    },
  };
}

export type ProvisioningServer = ReturnType<typeof createProvisioningServer>;
