/**
 * Hardware two devices cannot share: a GPIO line (two drivers exporting one pin fight over its direction and
 * edges) and a serial port (two readers split its bytes between them, so neither sees whole frames).
 */
import { realpathSync } from 'node:fs';
import type { ConfigIssue } from '../core/errors.js';

interface Claimant {
  index: number;
  id: string;
  type: string;
  options: unknown;
}

function samePort(path: string): string {
  try {
    return realpathSync(path); // /dev/serial/by-id/... and /dev/ttyUSB0 are one port
  } catch {
    return path;
  }
}

export function sharedHardwareIssues(devices: readonly Claimant[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const pins = new Map<number, Claimant>();
  const ports = new Map<string, Claimant>();
  for (const d of devices) {
    const { pin, port } = (d.options ?? {}) as { pin?: unknown; port?: unknown };
    if (typeof pin === 'number' && d.type.startsWith('gpio')) {
      const other = pins.get(pin);
      if (other)
        issues.push({
          path: `devices[${d.index}].pin`,
          message: `GPIO ${pin} is already used by devices[${other.index}] ("${other.id}")`,
        });
      else pins.set(pin, d);
    }
    if (typeof port === 'string') {
      const key = samePort(port);
      const other = ports.get(key);
      if (other)
        issues.push({
          path: `devices[${d.index}].port`,
          message: `${port} is already used by devices[${other.index}] ("${other.id}")`,
        });
      else ports.set(key, d);
    }
  }
  return issues;
}
