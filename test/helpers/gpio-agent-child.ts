/**
 * An agent in its own process, for hardware that only exists inside a private mount namespace (the GPIO sysfs
 * simulator bound over /sys/class). Started by `test/helpers/namespace-agent.ts` with an IPC channel:
 *   → { op: 'set', ref, device, values }  ← { op: 'result', ref, error? }
 *   → { op: 'stop' }                       ← exits once the agent stopped
 *   ← { op: 'ready' } once online, { op: 'reading', reading } for each stored reading, { op: 'fatal', error }
 * Usage: node gpio-agent-child.js CONFIG.yaml
 */
import { readFileSync } from 'node:fs';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { errorMessage } from '../../src/core/errors.js';
import { createLogger, silentLogger } from '../../src/core/logger.js';
import { createAgent } from '../../src/agent/agent.js';
import type { ControlValues } from '../../src/sdk/index.js';

type Request = { op: 'set'; ref: number; device: string; values: ControlValues } | { op: 'stop' };

function send(message: unknown): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path || !process.send)
    throw new Error('usage: node gpio-agent-child.js CONFIG.yaml (with an IPC channel)');
  const config = parseAgentConfig(readFileSync(path, 'utf8'), {
    definitions: builtinDevices,
    sourcePath: path,
  });
  const level = process.env.XIOT_TEST_LOG as 'debug' | undefined;
  const log = level ? createLogger({ level }) : silentLogger();
  const agent = createAgent(config, { log });
  agent.onReading((reading) => send({ op: 'reading', reading }));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await agent.stop({ drainMs: 500 });
    process.disconnect?.();
  };
  process.on('message', (m: Request) => {
    if (m.op === 'stop') {
      void stop().catch((err) => {
        send({ op: 'fatal', error: errorMessage(err) });
        process.exit(1);
      });
      return;
    }
    const runner = agent.devices.get(m.device);
    (runner ? runner.set(m.values) : Promise.reject(new Error(`no device ${m.device}`))).then(
      () => send({ op: 'result', ref: m.ref }),
      (err: unknown) => send({ op: 'result', ref: m.ref, error: errorMessage(err) }),
    );
  });
  // The parent went away: stop cleanly (unexporting the lines) rather than linger.
  process.on('disconnect', () => void stop());
  await agent.start();
  send({ op: 'ready' });
}

main().catch((err: unknown) => {
  send({ op: 'fatal', error: errorMessage(err) });
  process.exitCode = 1;
  process.disconnect?.();
});
