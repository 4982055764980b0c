/** The built CLI (`npm test` builds dist/ first) run as an operator would, to its exit. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { XmppServer } from '../../src/devtools/xmpp-server.js';

export const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` until it exits, keeping what it wrote. */
export function runToExit(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise<Run>((resolve) => {
    const child = spawn(command, args, { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Operator `user@localhost` (password `user-pw`) on `server`, with `configHome` so no operator file of the developer's is read. */
export function operatorEnv(server: XmppServer, configHome: string, user: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    XDG_CONFIG_HOME: configHome,
    XIOT_JID: `${user}@localhost`,
    XIOT_PASSWORD: `${user}-pw`,
    XIOT_SERVICE: server.service,
  };
}
