/**
 * The secrets file named by `secretsFile:` in the agent config: `NAME=value` lines, `#` comments, values
 * optionally in single or double quotes. The same subset systemd's `EnvironmentFile=` reads, so one file serves
 * `xiot check` and `xiot agent` run by hand and a unit that prefers to load it itself.
 *
 * Why a file the config names rather than only an EnvironmentFile: `xiot check`, `xiot status` and a user's own
 * shell would each need the variables exported; naming the file in the config keeps one source of truth, and the
 * secret stays out of the YAML (which is meant to be shared, diffed and pasted into bug reports).
 * Variables set in the environment win over the file, so a deployment can still override a value.
 */
import { readFileSync, statSync } from 'node:fs';

export interface SecretsFile {
  values: Record<string, string>;
  /** Set when group or others may read the file (it should be mode 600). */
  tooOpen: boolean;
}

const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/;

export function parseSecrets(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*(#|;|$)/.test(line)) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    let value = m[2] ?? '';
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    values[m[1] as string] = value;
  }
  return values;
}

/** Reads a secrets file; throws the fs error (ENOENT, EACCES) for the caller to report at its key path. */
export function readSecretsFile(path: string): SecretsFile {
  const text = readFileSync(path, 'utf8');
  const mode = statSync(path).mode & 0o777;
  return { values: parseSecrets(text), tooOpen: (mode & 0o077) !== 0 };
}

/** `NAME=value` with the value quoted so both systemd and our parser read it back unchanged. */
export function formatSecret(name: string, value: string): string {
  return `${name}="${value.replace(/(["\\$`])/g, '\\$1')}"`;
}
