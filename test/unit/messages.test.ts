import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { silentLogger } from '../../src/core/logger.js';
import { createFileSource } from '../../src/hal/files.js';
import { createSerialLinkFactory } from '../../src/hal/serial.js';
import { loadAgentConfig } from '../../src/agent/load-config.js';
import { createDeviceRunner } from '../../src/agent/runner.js';
import { tempDir } from '../helpers/agent.js';

const dir = tempDir('xiot-messages-');
afterAll(() => dir.remove());

describe('messages users read', () => {
  it('xiot sim loads a config whose password variable is unset (it never logs in)', () => {
    const path = join(dir.path, 'sim.yaml');
    writeFileSync(
      path,
      'xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: "${NOT_SET_ANYWHERE}" }\ndevices: [{ id: host, type: system }]\n',
    );
    expect(() => loadAgentConfig(path, {})).toThrow('environment variable NOT_SET_ANYWHERE is not set');
    expect(loadAgentConfig(path, {}, { allowMissingEnv: true }).devices).toHaveLength(1);
  });

  it('a serial port that cannot be opened is named once, with the reason once', async () => {
    const err = await createSerialLinkFactory()
      .open({ path: join(dir.path, 'ttyNOPE9'), baudRate: 9600 })
      .catch((e: Error) => e);
    expect((err as Error).message).toBe(
      `cannot open ${join(dir.path, 'ttyNOPE9')}: No such file or directory`,
    );
  });

  it('"device is not running" says why', async () => {
    const config = parseAgentConfig(
      'xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: p }\ndevices: [{ id: relay, type: gpio_output, pin: 17 }]\n',
      { definitions: builtinDevices, env: {} },
    ).devices[0]!;
    const runner = createDeviceRunner({
      config,
      hal: { files: createFileSource({ proc: dir.path, sys: dir.path }) },
      log: silentLogger(),
      onReading: () => undefined,
      retry: { baseMs: 60_000, maxMs: 60_000 },
    });
    runner.start();
    await new Promise((r) => setTimeout(r, 50));
    await expect(runner.set({ state: true })).rejects.toThrow(
      /^device is not running: it failed to start \(.*GPIO.*\) and is retried$/,
    );
    await runner.stop();
  });
});
