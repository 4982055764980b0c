/**
 * `npm run demo` / `xiot demo`: a throwaway Prosody on loopback, a real agent process (the compiled `xiot agent`)
 * reading this host, and an owner client showing the readings as they arrive over PEP. Ctrl-C cleans up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, MissingDependencyError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { createSensorClient } from '../operator/sensor-client.js';
import { type ParsedField, typedValue } from '../iot/sensordata.js';
import { createTransport } from '../xmpp/transport.js';
import { startSimulatedHardware } from '../../firmware-sim/launcher.js';
import { loadAgentConfig } from '../agent/load-config.js';
import { findProsody, startProsody } from './prosody.js';
import { findExecutable } from './system-deps.js';

const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function formatFields(fields: ParsedField[]): string {
  return fields
    .map((f) => {
      const v = typedValue(f);
      const shown = typeof v === 'number' ? String(Math.round(v * 100) / 100) : String(v);
      return `${f.name}=${shown}${f.unit ? ` ${f.unit}` : ''}`;
    })
    .join('  ');
}

export async function runDemo(options: { forMs?: number } = {}): Promise<number> {
  try {
    findProsody();
  } catch (err) {
    if (err instanceof MissingDependencyError) {
      process.stderr.write(
        `The demo needs Prosody. Install it with:\n  sudo ${err.fix}\n(or run \`npm run demo\` as root: it installs it for you)\n`,
      );
      return 1;
    }
    throw err;
  }
  const agentPassword = randomBytes(12).toString('hex');
  const ownerPassword = randomBytes(12).toString('hex');
  const server = await startProsody({
    accounts: [
      { username: 'demo-agent', password: agentPassword },
      { username: 'demo-owner', password: ownerPassword },
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'xiot-demo-'));
  const configPath = join(dir, 'agent.yaml');
  // Simulated hardware (firmware-sim): a DS18B20 on a 1-Wire tree, and an SDS011 dust sensor on a pty when
  // socat is installed; the host itself is real.
  const withSerial = findExecutable('socat') !== undefined;
  writeFileSync(
    configPath,
    `# Written by xiot demo. The password comes from the environment, never from this file.
xmpp:
  service: ${server.service}
  domain: localhost
  username: demo-agent
  password: \${DEMO_AGENT_PASSWORD}
  resource: agent
owners: [demo-owner@localhost]
store: ${join(dir, 'agent.db')}
hardware: { sysRoot: ${join(dir, 'sys')} }
devices:
  - id: host
    type: system
    interval: 2s
    fields:
      load1: { filters: [ { round: 2 } ] }
  - id: fridge
    type: ds18b20
    interval: 2s
${
  withSerial
    ? `  - id: air
    type: sds011
    port: ${join(dir, 'tty', 'sds011')}
    fields:
      pm25: { filters: [ { throttle: 2s } ] }
      pm10: { filters: [ { throttle: 2s } ] }
      frameErrors: { filters: [ { delta: 1 } ] }
`
    : ''
}`,
  );
  const hardware = await startSimulatedHardware(
    loadAgentConfig(configPath, { DEMO_AGENT_PASSWORD: agentPassword }),
  );
  for (const line of hardware.summary) process.stdout.write(`${dim(`simulated: ${line}`)}\n`);
  if (!withSerial) process.stdout.write(`${dim('(install socat to add a simulated SDS011 dust sensor)')}\n`);
  process.stdout.write(
    `${bold('xmpp-iot demo')}\n${dim(`Prosody on ${server.service} (data in ${server.dir})`)}\n`,
  );
  process.stdout.write(`${dim(`agent config: ${configPath}`)}\n`);

  const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
  const agent: ChildProcess = spawn(
    process.execPath,
    [cli, 'agent', '--config', configPath, '--log-level', 'warn'],
    {
      env: { ...process.env, DEMO_AGENT_PASSWORD: agentPassword },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const agentExited = new Promise<number>((resolve) => agent.once('exit', (code) => resolve(code ?? 1)));
  // Even when the demo ends abruptly (a closed pipe, an uncaught error), the agent must not outlive it.
  process.once('exit', () => {
    agent.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const transport = createTransport(
    {
      service: server.service,
      domain: 'localhost',
      username: 'demo-owner',
      password: ownerPassword,
      resource: 'demo',
    },
    silentLogger(),
  );
  const owner = createSensorClient({
    transport,
    log: silentLogger(),
    approve: (jid) => jid === 'demo-agent@localhost',
  });
  let count = 0;
  owner.onNotification((n) => {
    count++;
    const time = new Date(n.fields[0]?.timestamp ?? Date.now()).toLocaleTimeString();
    process.stdout.write(`${dim(time)}  ${bold(n.itemId)}  ${formatFields(n.fields)}\n`);
  });
  transport.on('online', () => void owner.announce());
  await transport.start();
  await owner.subscribe('demo-agent@localhost');
  process.stdout.write(
    `owner demo-owner@localhost is watching; readings arrive over PEP every 2 s. ${dim('Ctrl-C stops.')}\n`,
  );

  // Once the agent is online, show a XEP-0323 momentary readout too.
  void (async () => {
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        const result = await owner.readout('demo-agent@localhost/agent', {
          types: ['momentary', 'status', 'identity'],
          timeoutMs: 3000,
        });
        process.stdout.write(`${bold('XEP-0323 readout (momentary, status and identity fields):')}\n`);
        for (const f of result.fields)
          process.stdout.write(
            `  ${f.nodeId}/${f.name.padEnd(15)} ${f.type.padEnd(8)} ${f.value} ${f.unit ?? ''}  ${dim(f.flags.join(','))}\n`,
          );
        return;
      } catch {
        // agent not online yet
      }
    }
  })();

  const cleanup = async () => {
    await transport.stop().catch(() => undefined);
    if (agent.exitCode === null) agent.kill('SIGTERM');
    const code = await Promise.race([agentExited, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
    if (code === -1) agent.kill('SIGKILL');
    await server.stop();
    await hardware.stop();
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`${dim(`stopped; ${count} readings received; temporary files removed`)}\n`);
    return count;
  };

  return await new Promise<number>((resolve) => {
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      process.stdout.write(`\n${dim(why)}\n`);
      cleanup().then(
        (n) => resolve(n > 0 || options.forMs === undefined ? 0 : 1),
        (err) => {
          process.stderr.write(`cleanup failed: ${errorMessage(err)}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => finish('Ctrl-C: cleaning up'));
    process.once('SIGTERM', () => finish('SIGTERM: cleaning up'));
    void agentExited.then((code) => finish(`the agent exited with code ${code}`));
    if (options.forMs !== undefined) setTimeout(() => finish(`ran for ${options.forMs} ms`), options.forMs);
  });
}
