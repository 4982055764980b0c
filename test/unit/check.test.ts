import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { configWarnings } from '../../src/cli/check.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { ConfigError } from '../../src/core/errors.js';
import { closest } from '../../src/sdk/options.js';
import { tempDir } from '../helpers/agent.js';

const dir = tempDir('xiot-check-');
afterAll(() => dir.remove());

const HEAD = 'xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: pw }\n';

function parse(text: string) {
  return parseAgentConfig(text, {
    definitions: builtinDevices,
    env: {},
    sourcePath: join(dir.path, 'a.yaml'),
  });
}

/** The exact error text `xiot check` prints. */
function errorsOf(text: string): string {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n').slice(1).join('\n');
    throw err;
  }
  throw new Error('config was valid');
}

describe('xiot check errors', () => {
  it('names a misspelt key by its path with the closest known key', () => {
    expect(
      errorsOf(
        'xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: pw, resourse: r }\n' +
          'devices:\n  - { id: host, type: system, intervall: 10s }\n  - { id: air, type: pms5003, baudrate: 9600 }\n',
      ),
    ).toBe(
      [
        '  xmpp.resourse: unknown key (did you mean "resource"?)',
        '  devices[0].intervall: unknown key (did you mean "interval"?)',
        '  devices[1].baudrate: unknown key (did you mean "baudRate"?)',
      ].join('\n'),
    );
  });

  it('names a top-level unknown key by its path and lists the known ones when none is close', () => {
    expect(errorsOf(`${HEAD}sensors: []\ndevices: [{ id: host, type: system }]\n`)).toBe(
      '  sensors: unknown key (known: xmpp, owners, store, secretsFile, publish, history, hardware, provisioning, registry, log, limits, devices)',
    );
    expect(errorsOf(`${HEAD}owner: [a@h]\ndevices: [{ id: host, type: system }]\n`)).toBe(
      '  owner: unknown key (did you mean "owners"?)',
    );
  });

  it('echoes the bad value', () => {
    expect(
      errorsOf(
        `${HEAD}devices:\n  - { id: b, type: gpio_input, pin: 99 }\n  - { id: c, type: system, interval: often }\n  - { id: d, type: gpio_input, pin: "17" }\n`,
      ),
    ).toBe(
      [
        '  devices[0].pin: expected a BCM GPIO number (0–27 on the 40-pin header), got 99',
        '  devices[1].interval: expected a duration like "30s" or a cron expression like "*/5 * * * *", got "often"',
        '  devices[2].pin: expected a BCM GPIO number like 17, got "17"',
      ].join('\n'),
    );
  });

  it('never echoes a password', () => {
    expect(
      errorsOf(
        'xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: 12345 }\ndevices: [{ id: host, type: system }]\n',
      ),
    ).toBe('  xmpp.password: expected string');
  });

  it('refuses a GPIO pin or a serial port used by two devices', () => {
    writeFileSync(join(dir.path, 'ttyUSB0'), '');
    mkdirSync(join(dir.path, 'by-id'));
    symlinkSync(join(dir.path, 'ttyUSB0'), join(dir.path, 'by-id', 'usb-FTDI'));
    expect(
      errorsOf(
        `${HEAD}devices:\n` +
          '  - { id: door, type: gpio_input, pin: 17 }\n' +
          '  - { id: relay, type: gpio_output, pin: 17 }\n' +
          '  - { id: air, type: pms5003 }\n' +
          '  - { id: co2, type: mhz19 }\n' +
          `  - { id: gps, type: nmea_gps, port: ${join(dir.path, 'ttyUSB0')} }\n` +
          `  - { id: dust, type: sds011, port: ${join(dir.path, 'by-id', 'usb-FTDI')} }\n`,
      ),
    ).toBe(
      [
        '  devices[1].pin: GPIO 17 is already used by devices[0] ("door")',
        '  devices[3].port: /dev/serial0 is already used by devices[2] ("air")',
        `  devices[5].port: ${join(dir.path, 'by-id', 'usb-FTDI')} is already used by devices[4] ("gps")`,
      ].join('\n'),
    );
  });

  it('gives a YAML syntax error its position once', () => {
    expect(errorsOf('xmpp:\n  service: "x\n devices: [\n')).toMatch(
      /^ {2}line \d+, column \d+: [^\n]*[^:]$/m,
    );
    const text = errorsOf('xmpp: {\nowners: [a@h\n');
    expect(text).not.toMatch(/at line \d+, column \d+/);
    expect(text.split('\n')[0]).toMatch(/^ {2}line \d+, column \d+: \S/);
  });
});

describe('xiot check warnings', () => {
  it('warns that nobody can use an agent without owners or provisioning', () => {
    expect(configWarnings(parse(`${HEAD}devices: [{ id: host, type: system }]\n`))).toEqual([
      'owners: none and no provisioning server: nobody can use this agent',
    ]);
    expect(configWarnings(parse(`${HEAD}owners: [a@h]\ndevices: [{ id: host, type: system }]\n`))).toEqual(
      [],
    );
  });

  it('warns about serial ports and 1-Wire sensors this machine does not have', () => {
    const sys = join(dir.path, 'sys');
    mkdirSync(join(sys, 'bus', 'w1', 'devices', '28-0000000000a1'), { recursive: true });
    const config = parse(
      `${HEAD}owners: [a@h]\nhardware: { sysRoot: ${sys} }\ndevices:\n` +
        '  - { id: air, type: pms5003, port: /dev/ttyNOPE7 }\n' +
        '  - { id: t1, type: ds18b20, sensor: 28-0000000000a1 }\n' +
        '  - { id: t2, type: ds18b20, sensor: 28-0316a2795bff }\n',
    );
    expect(configWarnings(config)).toEqual([
      'devices[0].port: /dev/ttyNOPE7 does not exist on this machine (not plugged in yet?)',
      `devices[2].sensor: no 1-Wire device 28-0316a2795bff under ${join(sys, 'bus', 'w1', 'devices')} (wiring, dtoverlay=w1-gpio?)`,
    ]);
  });

  it('warns when the secrets file is readable by others', () => {
    writeFileSync(join(dir.path, 'open.secrets'), 'P=x\n', { mode: 0o644 });
    const config = parse(
      'xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: "${P}" }\nsecretsFile: open.secrets\nowners: [a@h]\ndevices: [{ id: host, type: system }]\n',
    );
    expect(configWarnings(config)).toEqual([
      `secretsFile: ${join(dir.path, 'open.secrets')} is readable by others: chmod 600 ${join(dir.path, 'open.secrets')}`,
    ]);
  });

  it('suggests by case or by a small edit distance only', () => {
    expect(closest('BAUDRATE', ['baudRate', 'port'])).toBe('baudRate');
    expect(closest('intervall', ['id', 'type', 'interval', 'timeout', 'fields'])).toBe('interval');
    expect(closest('colour', ['service', 'domain', 'username'])).toBeUndefined();
  });
});
