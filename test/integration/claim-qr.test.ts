import { execFile, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import { tempDir, testLogger, waitFor } from '../helpers/agent.js';
import { hubLink, registryHubConfig } from '../helpers/hub-modes.js';
import { requirePython3 } from '../helpers/requirements.js';
import { findExecutable } from '../../src/devtools/system-deps.js';
import { servers } from '../helpers/servers.js';
import { qrModules, readTerminalQr } from '../helpers/terminal-qr.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const DRIVER = fileURLToPath(new URL('../helpers/pty-drive.py', import.meta.url));
const PYTHON = findExecutable('python3');

/** Runs `args` of the CLI in a real pseudo-terminal (python pty), typing each answer once its prompt shows. */
const inTerminal = (args: string[], script: [string, string][]) =>
  new Promise<{ out: string; code: number | null; waiting?: string }>((resolve, reject) =>
    execFile(
      PYTHON as string,
      [DRIVER, JSON.stringify([process.execPath, CLI, ...args]), JSON.stringify(script)],
      { timeout: 90_000 },
      (err, stdout) =>
        err ? reject(err) : resolve(JSON.parse(stdout) as { out: string; code: number | null }),
    ),
  ).then((r) => ({ ...r, out: r.out.replace(/\r\n/g, '\n') }));

const piped = (args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );

/** The QR code drawn right after the line `after` in a terminal's output. */
const qrAfter = (out: string, after: string) => {
  const lines = out.split('\n');
  const at = lines.indexOf(after);
  const block: string[] = [];
  for (const line of lines.slice(at + 2)) {
    if (!/[█▀▄]/.test(line)) break;
    block.push(line);
  }
  return readTerminalQr(block.join('\n'));
};

describe.skipIf(!requirePython3()).each(servers())(
  'the claim code as a QR code in a terminal (%s, account hub)',
  (kind) => {
    const link = hubLink('account');
    const dir = tempDir();
    let server: XmppServer;
    let hub: Hub;
    const config = () => `${dir.path}/qr.yaml`;

    beforeAll(async () => {
      if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
      server = await startServer(kind, {
        accounts: [...link.serverOptions.accounts, { username: 'qr', password: 'qr-pw' }],
      });
      hub = createHub(registryHubConfig(link.xmpp(server), dir.path, 5), { log: testLogger() });
      await hub.start();
      writeFileSync(
        config(),
        `xmpp: { service: ${server.service}, domain: localhost, username: qr, password: qr-pw }
owners: []
store: qr.db
registry: { jid: ${link.jid}, tags: { ROOM: lab } }
devices:
  - { id: host, type: system, interval: 1h }
`,
      );
    });

    afterAll(async () => {
      await hub?.stop();
      await server?.stop();
      dir.remove();
    });

    it('an unclaimed agent on a terminal shows its code and QR code; each JSON log entry stays one line', async () => {
      const run = await inTerminal(
        ['agent', '--config', config(), '--log-format', 'json'],
        [['Shown again by: xiot claim-code', '\x03']],
      );
      expect(run.waiting, run.out).toBeUndefined();
      const registered = run.out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; claimCode?: string; uri?: string })
        .find((e) => e.claimCode);
      expect(registered?.msg).toBe(`registered; claim code: ${registered?.claimCode}`);
      const uri = registered?.uri as string;
      expect(uri).toMatch(/^iotdisco:.*ROOM=lab;.*R=hub@localhost$/);
      expect(run.out).toContain(`${registered?.claimCode}\n${uri}\n`);
      expect(qrAfter(run.out, uri)).toEqual(qrModules(uri));
      for (const line of run.out.split('\n').filter((l) => l.includes('"msg"')))
        expect(line, 'a log line with drawing in it').not.toMatch(/[█▀▄\x1b]/);
      expect(hub.store.getThing('qr@localhost')?.owner).toBeUndefined();
    });

    it('an agent whose output is not a terminal logs the code and draws nothing', async () => {
      const child = spawn(process.execPath, [CLI, 'agent', '--config', config(), '--log-format', 'json']);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise((r) => child.on('exit', r));
      try {
        await waitFor('the claim code logged', () => stderr.includes('registered; claim code'), 20_000);
      } finally {
        child.kill('SIGINT');
      }
      await exited;
      expect(stdout).toBe('');
      expect(stderr).not.toMatch(/[█▀▄]/);
    });

    it('xiot claim-code: text, URI and QR code on a terminal; two lines in a pipe; --qr and --json on demand', async () => {
      const shown = await inTerminal(['claim-code', '--config', config()], []);
      expect(shown.code, shown.out).toBe(0);
      const [text, uri] = shown.out.split('\n') as [string, string];
      expect(text).toMatch(/^IoTDisco;.*;ROOM:lab;KEY:/);
      expect(qrAfter(shown.out, uri)).toEqual(qrModules(uri));

      const pipe = await piped(['claim-code', '--config', config()]);
      expect(pipe.stdout).toBe(`${text}\n${uri}\n`);
      const forced = await piped(['claim-code', '--config', config(), '--qr']);
      expect(qrAfter(forced.stdout.replace(/\x1b\[[0-9;]*m/g, ''), uri)).toEqual(qrModules(uri));
      const json = await piped(['claim-code', '--config', config(), '--json']);
      expect(JSON.parse(json.stdout)).toEqual({ text, uri, registry: link.jid, claimedBy: null });
      expect((await piped(['claim-code', '--config', config(), '--json', '--qr'])).code).toBe(2);
    });
  },
);
