import type { ConfigIssue } from '../core/errors.js';
import { formatPath } from './path.js';

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` (or `${NAME:-default}`) in every string of a parsed YAML tree. Secrets stay out of the
 * file; a missing variable is an issue at the key path that referenced it, never an empty password.
 */
export function substituteEnv(
  node: unknown,
  env: Record<string, string | undefined>,
  issues: ConfigIssue[],
  path: (string | number)[] = [],
): unknown {
  if (typeof node === 'string') {
    return node.replace(REF, (whole, name: string, fallback: string | undefined) => {
      const value = env[name] ?? fallback;
      if (value === undefined) {
        issues.push({ path: formatPath(path), message: `environment variable ${name} is not set` });
        return whole;
      }
      return value;
    });
  }
  if (Array.isArray(node)) return node.map((v, i) => substituteEnv(v, env, issues, [...path, i]));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = substituteEnv(v, env, issues, [...path, k]);
    return out;
  }
  return node;
}
