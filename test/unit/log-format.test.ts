import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { chooseLogFormat, formatLogLine } from '../../src/core/log-format.js';
import { createLogger } from '../../src/core/logger.js';
import { createFileSource } from '../../src/hal/files.js';
import { createDeviceRunner } from '../../src/agent/runner.js';

function captured() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d) => (text += d));
  return { stream, text: () => text };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A `system` device reading an empty /proc: it fails on every retry. */
async function failingDeviceLogs(format: 'json' | 'pretty'): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'xiot-logs-'));
  const out = captured();
  const log = createLogger({ level: 'info', destination: out.stream, format });
  const config = parseAgentConfig(
    'xmpp: { service: xmpp://127.0.0.1:1, domain: localhost, username: a, password: p }\ndevices: [{ id: host, type: system, interval: 50ms }]\n',
    { definitions: builtinDevices, env: {} },
  ).devices[0]!;
  const runner = createDeviceRunner({
    config,
    hal: { files: createFileSource({ proc: root, sys: root }) },
    log: log.child({ device: 'host' }),
    onReading: () => undefined,
    retry: { baseMs: 10, maxMs: 20 },
  });
  runner.start();
  await sleep(300);
  await runner.stop();
  rmSync(root, { recursive: true, force: true });
  expect(runner.status().failures).toBeGreaterThan(3);
  return out.text();
}

describe('logs', () => {
  it('write JSON with each key once and one line per state change, not per retry', async () => {
    const lines = (await failingDeviceLogs('json')).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.match(/"device":/g)).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, device: 'host', msg: 'device unavailable' });
  });

  it('read as text on a terminal: time, level, device, message, then the fields', async () => {
    const text = await failingDeviceLogs('pretty');
    expect(text).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}host: device unavailable code=ENOENT err="ENOENT: [^\n]*"\n$/,
    );
  });

  it('format lines by level and source, quoting values only when needed', () => {
    const time = new Date(2026, 11, 1, 9, 5, 7, 42).getTime();
    expect(
      formatLogLine(JSON.stringify({ level: 30, time, module: 'xmpp', jid: 'a@b/agent', msg: 'online' })),
    ).toBe('09:05:07.042 INFO  xmpp: online jid=a@b/agent');
    expect(
      formatLogLine(JSON.stringify({ level: 50, time, msg: 'agent failed', err: 'x y', n: 3 }), true),
    ).toBe('09:05:07.042 \x1b[31mERROR\x1b[0m agent failed err="x y" n=3');
    expect(formatLogLine('not json')).toBe('not json');
  });

  it('choose text on a terminal and JSON elsewhere unless asked', () => {
    expect(chooseLogFormat(undefined, { isTTY: true })).toBe('pretty');
    expect(chooseLogFormat(undefined, {})).toBe('json');
    expect(chooseLogFormat('json', { isTTY: true })).toBe('json');
  });
});
