/**
 * The hub's XEP-0050 ad-hoc commands, so an owner needs no more than an XMPP client (Gajim, Psi, Conversations):
 * pending requests (approve once / always / deny), rules (list, add, remove), my things, and claiming a thing by
 * its claim code. Each command acts on the sender's own things and rules only; `xiot rules` does the same over
 * urn:xmpp-iot:provisioning-rules:0 (src/iot/provisioning-rules.ts) through the same provisioning server calls.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import { KEY_TAG, parseClaimCode } from '../iot/discovery.js';
import {
  describeRule,
  parseTagCondition,
  RULE_ACTIONS,
  type RuleAction,
  RuleError,
} from '../iot/provisioning-rules.js';
import type { OneStepCommand } from '../xmpp/adhoc.js';
import { bareOf } from '../xmpp/jid.js';
import { NS } from '../xmpp/ns.js';
import {
  describeQuestion,
  OwnerRequestError,
  type ProvisioningServer,
  type Verdict,
} from './provisioning-server.js';

export const HUB_COMMAND_PREFIX = 'urn:xmpp-iot:hub:';

const option = (value: string, label = value) => xml('option', { label }, xml('value', {}, value));
const field = (v: string, type: string, label: string, ...children: Element[]) =>
  xml('field', { var: v, type, label }, ...children);
const form = (node: string, title: string, instructions: string, ...fields: Element[]) =>
  xml(
    'x',
    { xmlns: NS.dataForms, type: 'form' },
    xml('title', {}, title),
    xml('instructions', {}, instructions),
    field('FORM_TYPE', 'hidden', '', xml('value', {}, node)),
    ...fields,
  );

const one = (values: Record<string, string[]>, name: string) => values[name]?.[0]?.trim() ?? '';
/** A text-multi's lines, or a comma-separated single line. */
const lines = (values: Record<string, string[]>, name: string) =>
  (values[name] ?? [])
    .flatMap((v) => v.split(/[\n,]/))
    .map((v) => v.trim())
    .filter(Boolean);

export function hubCommands(deps: {
  provisioning: ProvisioningServer;
  claim(claimant: string, code: string, isPublic: boolean): Promise<string>;
}): OneStepCommand[] {
  const { provisioning } = deps;
  const owner = (from: string) => bareOf(from);
  /** Runs an owner's request, turning refusals into a note that says what to fix. */
  const attempt = async (run: () => string | Promise<string>) => {
    try {
      return { ok: true, text: await run() };
    } catch (err) {
      if (err instanceof RuleError || err instanceof OwnerRequestError)
        return { ok: false, text: err.message };
      throw err;
    }
  };
  const node = (name: string) => HUB_COMMAND_PREFIX + name;

  return [
    {
      node: node('pending'),
      name: 'Pending requests',
      form(from) {
        const pending = provisioning.pending(owner(from));
        if (!pending.length) return undefined;
        return form(
          node('pending'),
          'Pending requests',
          '"Approve once" answers this one request; "always" and "deny" become rules for this thing and requester.',
          field(
            'request',
            'list-single',
            'Request',
            ...(pending.length === 1 ? [xml('value', {}, String(pending[0]?.id))] : []),
            ...pending.map((p) => option(String(p.id), `#${p.id}: ${describeQuestion(p)}`)),
          ),
          field(
            'decision',
            'list-single',
            'Decision',
            option('once', 'Approve once'),
            option('always', 'Approve always'),
            option('deny', 'Deny'),
          ),
          field(
            'names',
            'text-multi',
            'Approve always: only these fields or parameters (empty: what was asked)',
          ),
          field('nodes', 'text-multi', 'Approve always: only these nodes (empty: what was asked)'),
        );
      },
      run: (from, values) =>
        attempt(() => {
          if (!provisioning.pending(owner(from)).length) return 'No pending requests.';
          const id = Number(one(values, 'request'));
          const decision = one(values, 'decision') as Verdict;
          if (!['once', 'always', 'deny'].includes(decision))
            throw new RuleError('choose a decision: approve once, always, or deny');
          const rule = provisioning.answer(owner(from), id, decision, {
            names: lines(values, 'names'),
            nodes: lines(values, 'nodes'),
          });
          return rule ? `Rule #${rule.id}: ${describeRule(rule)}.` : `Request #${id} approved once.`;
        }),
    },
    {
      node: node('rules'),
      name: 'List rules',
      run: (from) => {
        const rules = provisioning.rules(owner(from));
        return {
          ok: true,
          text: rules.length ? rules.map((r) => `#${r.id}: ${describeRule(r)}`).join('\n') : 'No rules.',
        };
      },
    },
    {
      node: node('rule-add'),
      name: 'Add a rule',
      form(from) {
        const things = provisioning.things(owner(from));
        return form(
          node('rule-add'),
          'Add a rule',
          'Who (a JID, or a domain for everyone there) may read or control which thing (or every thing of yours ' +
            'with a tag NAME=VALUE). A rule replaces yours for the same thing or tag, requester and action.',
          field('thing', 'list-single', 'Thing', ...things.map((t) => option(t.jid))),
          field('tag', 'text-single', 'Or every thing of mine with the tag (NAME=VALUE)'),
          field('requester', 'text-single', 'Requester (guest@example.org or example.org)'),
          field(
            'actions',
            'list-multi',
            'Actions',
            xml('value', {}, 'read'),
            option('read', 'Read'),
            option('control', 'Control'),
          ),
          field(
            'effect',
            'list-single',
            'Effect',
            xml('value', {}, 'allow'),
            option('allow'),
            option('deny'),
          ),
          field('names', 'text-multi', 'Only these fields (read) or parameters (control); empty: all'),
          field('nodes', 'text-multi', 'Only these nodes (devices); empty: all'),
        );
      },
      run: (from, values) =>
        attempt(() => {
          const thing = one(values, 'thing');
          const tag = one(values, 'tag');
          if (!thing === !tag) throw new RuleError('choose a thing or give a tag, not both');
          const actions = (values.actions ?? []).filter((a): a is RuleAction =>
            RULE_ACTIONS.includes(a as RuleAction),
          );
          if (!actions.length) throw new RuleError('choose read, control, or both');
          const added = actions.map((action) =>
            provisioning.addRule(owner(from), {
              ...(thing ? { thing } : { tag: parseTagCondition(tag) }),
              requester: one(values, 'requester'),
              action,
              allow: one(values, 'effect') !== 'deny',
              nodes: lines(values, 'nodes'),
              names: lines(values, 'names'),
            }),
          );
          return added.map((r) => `Rule #${r.id}: ${describeRule(r)}.`).join('\n');
        }),
    },
    {
      node: node('rule-remove'),
      name: 'Remove a rule',
      form(from) {
        const rules = provisioning.rules(owner(from));
        if (!rules.length) return undefined;
        return form(
          node('rule-remove'),
          'Remove a rule',
          'Things it applied to forget the decisions they cached.',
          field(
            'rule',
            'list-single',
            'Rule',
            ...rules.map((r) => option(String(r.id), `#${r.id}: ${describeRule(r)}`)),
          ),
        );
      },
      run: (from, values) =>
        attempt(() => {
          if (!provisioning.rules(owner(from)).length) return 'No rules.';
          const rule = provisioning.removeRule(owner(from), Number(one(values, 'rule')));
          return `Removed rule #${rule.id}: ${describeRule(rule)}.`;
        }),
    },
    {
      node: node('things'),
      name: 'My things',
      run: (from) => {
        const things = provisioning.things(owner(from));
        const text = things
          .map(
            (t) =>
              `${t.jid}${t.public ? '' : ' (private)'}: ${t.tags
                .filter((tag) => tag.name !== KEY_TAG)
                .map((tag) => `${tag.name}=${tag.value}`)
                .join(' ')}`,
          )
          .join('\n');
        return { ok: true, text: text || 'You own no things here.' };
      },
    },
    {
      node: node('claim'),
      name: 'Claim a thing',
      form: () =>
        form(
          node('claim'),
          'Claim a thing',
          'The claim code, as the thing prints it (IoTDisco;… or iotdisco:…).',
          field('code', 'text-single', 'Claim code'),
          field('public', 'boolean', 'List it in searches', xml('value', {}, 'true')),
        ),
      run: (from, values) =>
        attempt(async () => {
          try {
            parseClaimCode(one(values, 'code'));
          } catch (err) {
            throw new RuleError(errorMessage(err));
          }
          const isPublic = !['false', '0'].includes(one(values, 'public'));
          const thing = await deps.claim(owner(from), one(values, 'code'), isPublic);
          return `Claimed ${thing}: you are its owner.`;
        }),
    },
  ];
}
