/**
 * The commented config `xiot init` writes: short YAML a maker can read and edit, with what was found on this
 * machine written next to where it would go. Pure (answers + hardware in, text out) so tests compare text.
 */
import type { Hardware } from './detect.js';

export interface InitAnswers {
  service: string;
  domain: string;
  username: string;
  resource: string;
  owners: string[];
  /** XEP-0347 registry an agent without owners registers with (claimed with its claim code). */
  registry?: string;
  /** Relative to the config file, or absolute. */
  store: string;
  /** The secrets file's name as written in the config (relative to it). */
  secretsFile: string;
  passwordVariable: string;
  /** Add a ds18b20 device per 1-Wire sensor found. */
  oneWireDevices: boolean;
}

const yamlString = (s: string) => (/^[\w@.:/+-]+$/.test(s) && !/^[\d.]+$/.test(s) ? s : JSON.stringify(s));

/** `ds18b20` → `temp_0316a2795bff`: ids that stay stable when sensors are added. */
export function oneWireDeviceId(sensor: string): string {
  return `temp_${sensor.slice(3).toLowerCase()}`;
}

export function renderConfig(a: InitAnswers, hw: Hardware, version: string): string {
  const lines: string[] = [
    `# xmpp-iot agent configuration, written by xiot init ${version}.`,
    '# Validate after editing: xiot check --config THIS_FILE. Every key: README "Configuration".',
    '',
    'xmpp:',
    `  service: ${yamlString(a.service)} # xmpp://host:5222 (STARTTLS when offered), xmpps://host:5223, wss://host/xmpp-websocket`,
    `  domain: ${yamlString(a.domain)}`,
    `  username: ${yamlString(a.username)}`,
    `  password: \${${a.passwordVariable}} # from the secrets file below (or the environment, which wins)`,
    `  resource: ${yamlString(a.resource)}`,
    `secretsFile: ${yamlString(a.secretsFile)} # NAME=value lines, mode 600; never commit it`,
    '',
    '# Bare JIDs that may read and control this agent. Without any, nobody can use it.',
  ];
  if (a.owners.length) {
    lines.push('owners:', ...a.owners.map((o) => `  - ${yamlString(o)}`));
  } else {
    lines.push('owners: [] # add yours: [alice@example.org]');
  }
  if (a.registry) {
    lines.push(
      '# XEP-0347: without owners, register here; claim with the code `xiot claim-code` prints (README "Fleet: claiming and permissions").',
      `registry: ${yamlString(a.registry)}`,
    );
  }
  lines.push(
    '',
    '# SQLite file with the history and the readings waiting to be published (relative to this file).',
    `store: ${yamlString(a.store)}`,
    '',
  );
  if (hw.model) lines.push(`# Found: ${hw.model}.`);
  if (hw.gpioChipBase !== undefined) {
    lines.push(
      `# GPIO chip base ${hw.gpioChipBase} (read at start; uncomment only if detection fails on this board):`,
      `# hardware: { gpioChipBase: ${hw.gpioChipBase} }`,
    );
  }
  lines.push(
    '',
    'devices:',
    '  - id: host',
    '    type: system # load average, memory, uptime, CPU temperature where present',
    '    interval: 30s',
  );
  if (hw.oneWire.length) {
    lines.push('', `  # DS18B20 temperature sensors found on the 1-Wire bus: ${hw.oneWire.join(', ')}`);
    for (const sensor of hw.oneWire) {
      const prefix = a.oneWireDevices ? '' : '# ';
      lines.push(
        `  ${prefix}- id: ${oneWireDeviceId(sensor)}`,
        `  ${prefix}  type: ds18b20`,
        `  ${prefix}  sensor: ${sensor}`,
        `  ${prefix}  interval: 1m`,
      );
    }
  } else {
    lines.push(
      '',
      '  # No 1-Wire sensor found (enable the bus with dtoverlay=w1-gpio in /boot/firmware/config.txt).',
    );
  }
  if (hw.serialPorts.length) {
    lines.push(
      '',
      `  # Serial ports found: ${hw.serialPorts.join(', ')}`,
      '  # For example a PMS5003 particulate sensor (types: pms5003, sds011, mhz19, nmea_gps, line_serial):',
      `  # - id: air`,
      `  #   type: pms5003`,
      `  #   port: ${hw.serialPorts[0]}`,
    );
  } else {
    lines.push('', '  # No serial port found (/dev/serial/by-id, /dev/ttyACM*, /dev/ttyUSB*, /dev/serial0).');
  }
  lines.push(
    '',
    '  # A button or contact on a GPIO pin (BCM numbering), and a relay or LED:',
    '  # - id: door',
    '  #   type: gpio_input',
    '  #   pin: 17',
    '  # - id: relay',
    '  #   type: gpio_output',
    '  #   pin: 27',
    '',
  );
  return lines.join('\n');
}
