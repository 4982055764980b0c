import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { detectHardware, type Roots } from '../../src/cli/detect.js';
import { passwordVariable, runInit } from '../../src/cli/init.js';
import { renderConfig } from '../../src/cli/init-config.js';
import { createPrompter } from '../../src/cli/prompt.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import { parseSecrets } from '../../src/config/secrets.js';
import { loadAgentConfig } from '../../src/agent/load-config.js';
import { tempDir } from '../helpers/agent.js';

let dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs) d.remove();
  dirs = [];
});

function temp(): string {
  const d = tempDir('xiot-init-');
  dirs.push(d);
  return d.path;
}

/** A Raspberry Pi 4 as the files show it: device tree, pinctrl chip at 512, a USB adapter, two probes. */
function pi4(): Roots {
  const root = temp();
  const roots = { proc: join(root, 'proc'), sys: join(root, 'sys'), dev: join(root, 'dev') };
  mkdirSync(join(roots.proc, 'device-tree'), { recursive: true });
  writeFileSync(join(roots.proc, 'device-tree', 'model'), 'Raspberry Pi 4 Model B Rev 1.4\0');
  for (const [chip, label, ngpio] of [
    ['gpiochip512', 'pinctrl-bcm2711', '58'],
    ['gpiochip570', 'raspberrypi-exp-gpio', '8'],
  ] as const) {
    mkdirSync(join(roots.sys, 'class', 'gpio', chip), { recursive: true });
    writeFileSync(join(roots.sys, 'class', 'gpio', chip, 'base'), `${chip.slice(8)}\n`);
    writeFileSync(join(roots.sys, 'class', 'gpio', chip, 'label'), `${label}\n`);
    writeFileSync(join(roots.sys, 'class', 'gpio', chip, 'ngpio'), `${ngpio}\n`);
  }
  for (const id of ['28-0316a2795bff', '28-0000000000a1', '00-000000000000'])
    mkdirSync(join(roots.sys, 'bus', 'w1', 'devices', id), { recursive: true });
  mkdirSync(join(roots.dev, 'serial', 'by-id'), { recursive: true });
  writeFileSync(join(roots.dev, 'ttyUSB0'), '');
  writeFileSync(join(roots.dev, 'ttyAMA0'), '');
  symlinkSync('ttyAMA0', join(roots.dev, 'serial0'));
  symlinkSync('../../ttyUSB0', join(roots.dev, 'serial', 'by-id', 'usb-FTDI_FT232R-if00-port0'));
  return roots;
}

describe('hardware detection for xiot init', () => {
  it('finds the Pi model, the pinctrl chip base, serial ports by stable name first, and DS18B20 probes', () => {
    const roots = pi4();
    expect(detectHardware(roots)).toEqual({
      model: 'Raspberry Pi 4 Model B Rev 1.4',
      gpioChipBase: 512,
      serialPorts: [
        join(roots.dev, 'serial', 'by-id', 'usb-FTDI_FT232R-if00-port0'),
        join(roots.dev, 'serial0'),
      ],
      oneWire: ['28-0000000000a1', '28-0316a2795bff'],
    });
  });

  it('reads the model from /proc/cpuinfo without a device tree and finds nothing else on a bare machine', () => {
    const root = temp();
    mkdirSync(join(root, 'proc'));
    writeFileSync(
      join(root, 'proc', 'cpuinfo'),
      'processor\t: 0\nModel\t\t: Raspberry Pi Zero 2 W Rev 1.0\n',
    );
    expect(
      detectHardware({ proc: join(root, 'proc'), sys: join(root, 'sys'), dev: join(root, 'dev') }),
    ).toEqual({
      model: 'Raspberry Pi Zero 2 W Rev 1.0',
      gpioChipBase: undefined,
      serialPorts: [],
      oneWire: [],
    });
  });
});

describe('the config xiot init writes', () => {
  const answers = {
    service: 'xmpp://pi.example.org:5222',
    domain: 'example.org',
    username: 'garden',
    resource: 'agent',
    owners: ['alice@example.org'],
    store: './data/garden.db',
    secretsFile: './garden.secrets',
    passwordVariable: 'GARDEN_PASSWORD',
    oneWireDevices: true,
  };

  it('is valid, with a ds18b20 device per probe found and the hardware in comments', () => {
    const text = renderConfig(answers, detectHardware(pi4()), '0.1.0');
    expect(text).toContain('# Found: Raspberry Pi 4 Model B Rev 1.4.');
    expect(text).toContain('# hardware: { gpioChipBase: 512 }');
    expect(text).toMatch(/# Serial ports found: .*usb-FTDI_FT232R-if00-port0/);
    const dir = temp();
    writeFileSync(join(dir, 'garden.secrets'), 'GARDEN_PASSWORD=pw\n', { mode: 0o600 });
    const config = parseAgentConfig(text, {
      definitions: builtinDevices,
      env: {},
      sourcePath: join(dir, 'garden.yaml'),
    });
    expect(config.xmpp.password).toBe('pw');
    expect(config.devices.map((d) => [d.id, d.type, d.options])).toEqual([
      ['host', 'system', expect.anything()],
      ['temp_0000000000a1', 'ds18b20', { sensor: '28-0000000000a1' }],
      ['temp_0316a2795bff', 'ds18b20', { sensor: '28-0316a2795bff' }],
    ]);
    expect(config.owners).toEqual(['alice@example.org']);
  });

  it('says how to enable 1-Wire and names the serial paths it looked at when it found neither', () => {
    const text = renderConfig(
      { ...answers, owners: [] },
      { model: undefined, gpioChipBase: undefined, serialPorts: [], oneWire: [] },
      '0.1.0',
    );
    expect(text).toContain('dtoverlay=w1-gpio');
    expect(text).toContain(
      'No serial port found (/dev/serial/by-id, /dev/ttyACM*, /dev/ttyUSB*, /dev/serial0)',
    );
    expect(text).toContain('owners: [] # add yours');
  });
});

describe('secrets files', () => {
  it('reads NAME=value lines, quoted or not, skipping comments', () => {
    expect(parseSecrets('# c\nA=1\n export B = "two words" \nC=\'x"y\'\nD="a\\"b"\n\nbad line\n')).toEqual({
      A: '1',
      B: 'two words',
      C: 'x"y',
      D: 'a"b',
    });
  });

  it('fill ${VARIABLES} of the config that names them; the environment wins', () => {
    const dir = temp();
    writeFileSync(join(dir, 'a.secrets'), 'A_PASSWORD="from-file"\n', { mode: 0o600 });
    const yaml = `xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: "\${A_PASSWORD}" }
secretsFile: ./a.secrets
devices: [{ id: host, type: system }]
`;
    writeFileSync(join(dir, 'a.yaml'), yaml);
    expect(loadAgentConfig(join(dir, 'a.yaml'), {}).xmpp.password).toBe('from-file');
    expect(loadAgentConfig(join(dir, 'a.yaml'), { A_PASSWORD: 'env' }).xmpp.password).toBe('env');
  });

  it('report a missing secrets file at its key, once', () => {
    const dir = temp();
    writeFileSync(
      join(dir, 'a.yaml'),
      'xmpp: { service: "xmpp://h:5222", domain: h, username: a, password: "${A_PASSWORD}" }\nsecretsFile: ./nope.secrets\ndevices: [{ id: host, type: system }]\n',
    );
    expect(() => loadAgentConfig(join(dir, 'a.yaml'), {})).toThrow(
      `invalid configuration\n  secretsFile: cannot read ${join(dir, 'nope.secrets')}: no such file\n  xmpp.password: environment variable A_PASSWORD is not set`,
    );
  });
});

describe('xiot init --non-interactive', () => {
  const out = () => {
    const s = new PassThrough();
    let text = '';
    s.on('data', (d) => (text += d));
    return { stream: s, text: () => text };
  };

  it('writes a valid config and a mode-600 secrets file holding the password', async () => {
    const dir = temp();
    const stdout = out();
    const init = (...more: string[]) =>
      runInit(
        [
          '--non-interactive',
          '--config',
          join(dir, 'garden.yaml'),
          '--domain',
          'example.org',
          '--username',
          'garden',
          ...more,
        ],
        { stdout: stdout.stream, stderr: stdout.stream, roots: pi4() },
      );
    const code = await init().catch((err: Error) => err.message);
    expect(code).toBe('init: --non-interactive needs --password or --register');
    const ok = await init('--password', 'pa$$ "word"', '--owner', 'alice@example.org');
    expect(ok).toBe(0);
    expect(statSync(join(dir, 'garden.secrets')).mode & 0o777).toBe(0o600);
    const config = loadAgentConfig(join(dir, 'garden.yaml'), {});
    expect(config.xmpp).toMatchObject({
      service: 'xmpp://example.org:5222',
      username: 'garden',
      password: 'pa$$ "word"',
    });
    expect(config.store).toBe(join(dir, 'data', 'garden.db'));
    expect(stdout.text()).toContain(`xiot check --config ${join(dir, 'garden.yaml')}`);
    await expect(
      runInit(
        ['--non-interactive', '--config', join(dir, 'garden.yaml'), '--domain', 'x', '--password', 'p'],
        {
          stdout: stdout.stream,
          stderr: stdout.stream,
        },
      ),
    ).rejects.toThrow(`init: ${join(dir, 'garden.yaml')} exists (--force overwrites it)`);
  });

  it('writes registry: with --registry, for an agent to be claimed instead of owned from YAML', async () => {
    const dir = temp();
    const stdout = out();
    const args = ['--non-interactive', '--config', join(dir, 'hall.yaml'), '--domain', 'example.org'];
    await expect(
      runInit([...args, '--password', 'p', '--registry', 'a@b@c'], {
        stdout: stdout.stream,
        stderr: stdout.stream,
      }),
    ).rejects.toThrow('init: --registry "a@b@c" is not a JID');
    expect(
      await runInit([...args, '--password', 'p', '--registry', 'registry.example.org'], {
        stdout: stdout.stream,
        stderr: stdout.stream,
        roots: pi4(),
      }),
    ).toBe(0);
    const config = loadAgentConfig(join(dir, 'hall.yaml'), {});
    expect(config.owners).toEqual([]);
    expect(config.registry).toEqual({ jid: 'registry.example.org', tags: {} });
    expect(stdout.text()).toContain('claim it with its code (xiot claim-code)');
    expect(stdout.text()).not.toContain('warning: no owners');
  });

  it('registers the account with a generated password before writing anything', async () => {
    const dir = temp();
    const calls: unknown[] = [];
    const stdout = new PassThrough();
    stdout.resume();
    await runInit(
      [
        '--non-interactive',
        '--config',
        join(dir, 'a.yaml'),
        '--domain',
        'example.org',
        '--username',
        'a',
        '--register',
      ],
      { stdout, stderr: stdout, roots: pi4(), register: async (o) => void calls.push(o) },
    );
    expect(calls).toEqual([
      {
        service: 'xmpp://example.org:5222',
        domain: 'example.org',
        username: 'a',
        password: expect.stringMatching(/^[\w-]{24}$/),
      },
    ]);
    expect(readFileSync(join(dir, 'a.secrets'), 'utf8')).toContain(
      `A_PASSWORD="${(calls[0] as { password: string }).password}"`,
    );
  });

  it('names the password variable after the username', () => {
    expect(passwordVariable('kitchen')).toBe('KITCHEN_PASSWORD');
    expect(passwordVariable('pi-garden.2')).toBe('PI_GARDEN_2_PASSWORD');
    expect(passwordVariable('4pi')).toBe('X4PI_PASSWORD');
  });
});

describe('xiot init prompts', () => {
  function session(answers: string) {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d) => (shown += d));
    input.end(answers);
    return { prompter: createPrompter(input, output), shown: () => shown };
  }

  it('keeps the default on Enter, asks again after an invalid answer, and does not show secrets', async () => {
    const s = session('\nnot a domain\nexample.org\nhunter2\n');
    const p = s.prompter;
    expect(await p.ask('Username', 'garden')).toBe('garden');
    expect(
      await p.ask('Domain', undefined, (a) => (/\s/.test(a) ? 'a domain like example.org' : undefined)),
    ).toBe('example.org');
    expect(await p.secret('Password')).toBe('hunter2');
    p.close();
    expect(s.shown()).toBe(
      'Username [garden]: Domain:   expected a domain like example.org\nDomain: Password: \n',
    );
    expect(s.shown()).not.toContain('hunter2');
  });

  it('runs the interactive init from answers typed one per line', async () => {
    const dir = temp();
    const s = session('example.org\n\ngarden\nn\nsecret-pw\nalice@example.org, bob@example.org\n');
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (d) => (text += d));
    expect(
      await runInit(['--config', join(dir, 'g.yaml')], {
        stdout,
        stderr: stdout,
        roots: pi4(),
        prompter: s.prompter,
      }),
    ).toBe(0);
    expect(text).toContain('board:        Raspberry Pi 4 Model B Rev 1.4');
    const config = loadAgentConfig(join(dir, 'g.yaml'), {});
    expect(config.xmpp).toMatchObject({
      service: 'xmpp://example.org:5222',
      username: 'garden',
      password: 'secret-pw',
    });
    expect(config.owners).toEqual(['alice@example.org', 'bob@example.org']);
    expect(s.shown()).toContain('Server address [xmpp://example.org:5222]: ');
  });

  it('fails clearly when the input ends before every question is answered', async () => {
    const p = session('').prompter;
    await expect(p.ask('Domain')).rejects.toThrow('input ended before every question was answered');
  });
});
