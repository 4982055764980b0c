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

/**
 * Validates `input` against `schema`, collecting every issue (not only the first) in our wording.
 * `extraKeys`: keys the caller accepts at the top level besides the schema's (a device entry's `id`, `type`...),
 * offered as suggestions for a misspelt key.
 */
export function validate<O>(
  schema: OptionsSchema<O>,
  input: unknown,
  extraKeys: readonly string[] = [],
): Validated<O> {
  const result = v.safeParse(schema, input);
  if (result.success) return { ok: true, value: result.output };
  return { ok: false, issues: result.issues.map((issue) => toOptionIssue(issue, schema, extraKeys)) };
}

/** Like `validate`, but throws an Error listing the issues (tests, examples, code paths with trusted input). */
export function parseOptions<O>(schema: OptionsSchema<O>, input: unknown): O {
  const r = validate(schema, input);
  if (r.ok) return r.value;
  throw new Error(r.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; '));
}

function toOptionIssue(
  issue: v.BaseIssue<unknown>,
  schema: OptionsSchema<unknown>,
  extraKeys: readonly string[],
): OptionIssue {
  const path = (issue.path ?? []).map((p) => p.key as string | number);
  if (issue.expected === 'never' && issue.path?.length) {
    // A strict object met a key it does not know: name it by its full path and offer the closest known key.
    const key = String(path[path.length - 1]);
    const known = [...knownKeysAt(schema, path.slice(0, -1)), ...(path.length === 1 ? extraKeys : [])];
    const guess = closest(key, known);
    const hint = guess
      ? ` (did you mean "${guess}"?)`
      : known.length
        ? ` (known: ${[...new Set(known)].join(', ')})`
        : '';
    return { path, message: `unknown key${hint}` };
  }
  if (issue.received === 'undefined' && issue.kind === 'schema' && issue.message.startsWith('Invalid key'))
    return { path, message: 'is required' };
  // valibot's default wording, "Invalid type: Expected string but received 42", made to read like ours.
  const m = /^Invalid (\w+): (?:Expected (.*) but r|R)eceived (.*)$/s.exec(issue.message);
  const secret = path.some((p) => typeof p === 'string' && /password|secret|token/i.test(p));
  if (!m) {
    // Our own messages ("expected a BCM GPIO number like 17") do not show the value: echo it, secrets aside.
    const echo = issue.input === undefined || secret ? '' : `, got ${showValue(issue.input)}`;
    return { path, message: `${issue.message}${echo}` };
  }
  const expected = m[2] ?? (m[1] === 'integer' ? 'an integer' : `a valid ${m[1]}`);
  return { path, message: `expected ${expected}${secret ? '' : `, received ${m[3]}`}` };
}

/** A value as YAML would show it, shortened: `"often"`, `99`, `[1,2]`. */
export function showValue(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

type SchemaNode = {
  wrapped?: SchemaNode;
  entries?: Record<string, SchemaNode>;
  item?: SchemaNode;
  value?: SchemaNode;
  type?: string;
};

/** The keys a (strict) object schema accepts at `path` inside `schema`, or [] when it cannot tell. */
function knownKeysAt(schema: unknown, path: readonly (string | number)[]): string[] {
  const unwrap = (n: SchemaNode | undefined) => {
    while (n?.wrapped) n = n.wrapped;
    return n;
  };
  let node = unwrap(schema as SchemaNode);
  for (const step of path) {
    if (!node) return [];
    node =
      typeof step === 'number'
        ? unwrap(node.item)
        : unwrap(node.entries ? node.entries[step] : node.type === 'record' ? node.value : undefined);
  }
  return node?.entries ? Object.keys(node.entries) : [];
}

/** The known key a misspelt one most likely meant: same letters in another case, or at most ~1 edit in 3. */
export function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameCase = known.find((k) => k.toLowerCase() === lower);
  if (sameCase) return sameCase;
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(key.length / 3)));
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= bestDistance && (best === undefined || d < editDistance(lower, best.toLowerCase()))) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
    }
    prev = row;
  }
  return prev[b.length] as number;
}
