/**
 * Option schemas: device definitions declare theirs with valibot (re-exported as `v`), and the agent config is
 * validated with the same library and the same issue format, so every problem reads the same way.
 *
 * Why valibot and not zod (which the config used first): measured in this process, `import 'zod'` (v4) adds about
 * 14 MiB of RSS on its own and 8 MiB to the running agent, because its entry point loads ~95 modules and 850 kB of
 * source (every locale, JSON-schema conversion, the compiler). valibot is one 200 kB module: +0.1 MiB. The agent
 * runs on small boards and its footprint is a benchmark target (README "Performance").
 */
import * as v from 'valibot';
import { parseDuration } from '../core/duration.js';

export { v };

/** What a device definition's `options` (and any config section) is: a schema from input to `O`. */
export type OptionsSchema<O> = v.GenericSchema<unknown, O>;

/** A problem found in an option or config value; `path` is relative to the validated value. */
export interface OptionIssue {
  path: (string | number)[];
  message: string;
}

export type Validated<O> = { ok: true; value: O } | { ok: false; issues: OptionIssue[] };

/** A duration string such as "30s", "20ms" or "1h" (see core/duration). */
export function durationOption(hint = 'expected a duration like "30s"') {
  return v.pipe(
    v.string(hint),
    v.check((s) => parseDuration(s) !== undefined, hint),
  );
}

/** Validates `input` against `schema`, collecting every issue (not only the first) in our wording. */
export function validate<O>(schema: OptionsSchema<O>, input: unknown): Validated<O> {
  const result = v.safeParse(schema, input);
  if (result.success) return { ok: true, value: result.output };
  return { ok: false, issues: result.issues.map(toOptionIssue) };
}

/** Like `validate`, but throws an Error listing the issues (tests, examples, code paths with trusted input). */
export function parseOptions<O>(schema: OptionsSchema<O>, input: unknown): O {
  const r = validate(schema, input);
  if (r.ok) return r.value;
  throw new Error(r.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; '));
}

function toOptionIssue(issue: v.BaseIssue<unknown>): OptionIssue {
  const path = (issue.path ?? []).map((p) => p.key as string | number);
  if (issue.expected === 'never' && issue.path?.length) {
    // A strict object met a key it does not know: name the key at the object's path.
    return { path: path.slice(0, -1), message: `unknown key "${String(path[path.length - 1])}"` };
  }
  if (issue.received === 'undefined' && issue.kind === 'schema' && issue.message.startsWith('Invalid key'))
    return { path, message: 'is required' };
  // valibot's default wording, "Invalid type: Expected string but received 42", made to read like ours.
  const m = /^Invalid (\w+): (?:Expected (.*) but r|R)eceived (.*)$/s.exec(issue.message);
  if (!m) return { path, message: issue.message };
  const expected = m[2] ?? (m[1] === 'integer' ? 'an integer' : `a valid ${m[1]}`);
  return { path, message: `expected ${expected}, received ${m[3]}` };
}
