/**
 * DS18B20 1-Wire temperature probe through the kernel's w1 driver (`dtoverlay=w1-gpio`, data on GPIO4 with a
 * 4.7 kΩ pull-up to 3.3 V). Reads `/sys/bus/w1/devices/28-*\/w1_slave` (CRC line checked) or, where that is
 * absent, `temperature`; through the hal, so `hardware.sysRoot` can point at a simulated tree.
 */
import { DeviceError } from '../src/core/errors.js';
import type { FileSource } from '../src/sdk/index.js';
import { defineDevice, stringField, temperature, v } from '../src/sdk/index.js';

export const W1_DEVICES = '/sys/bus/w1/devices';
/** What a DS18B20 reports after power-on before its first conversion: almost always a wiring/power fault. */
export const POWER_ON_RESET_MILLI = 85_000;

const options = v.strictObject({
  /**
   * The sensor's 1-Wire id (`28-0316a2795bff`); default: the first DS18B20 found. Not `id`, which every device
   * entry already uses for its node id (issue 17: an `id` option could never be set).
   */
  sensor: v.optional(
    v.pipe(v.string(), v.regex(/^[0-9a-f]{2}-[0-9a-f]{12}$/i, 'expected a 1-Wire id like "28-0316a2795bff"')),
  ),
});

function checked(milli: number, what: string): number {
  if (!Number.isInteger(milli)) throw new DeviceError(`${what}: no temperature`);
  if (milli === POWER_ON_RESET_MILLI) {
    throw new DeviceError(`${what}: 85 °C power-on reset value (check the sensor's power and wiring)`);
  }
  if (milli < -55_000 || milli > 125_000)
    throw new DeviceError(`${what}: ${milli / 1000} °C is out of range`);
  return milli;
}

/** Millidegrees from a `w1_slave` file; throws on a CRC failure, a missing value or the power-on reset value. */
export function parseW1Slave(text: string): number {
  const lines = text.trim().split('\n');
  const crc = /crc=[0-9a-f]{2} (YES|NO)\s*$/i.exec(lines[0] ?? '');
  if (!crc) throw new DeviceError('w1_slave: unreadable (no CRC line)');
  if (crc[1]?.toUpperCase() !== 'YES') throw new DeviceError('w1_slave: CRC check failed');
  const t = /t=(-?\d+)\s*$/.exec(lines[1] ?? '');
  if (!t) throw new DeviceError('w1_slave: no t= value');
  return checked(Number(t[1]), 'w1_slave');
}

/** Millidegrees from a `temperature` file (the kernel checked the CRC). */
export function parseTemperatureFile(text: string): number {
  const s = text.trim();
  return checked(/^-?\d+$/.test(s) ? Number(s) : Number.NaN, 'temperature');
}

/** The configured sensor, or the first DS18B20 (family 28) on the bus. */
export async function findSensor(files: FileSource, id?: string): Promise<string> {
  if (id) return id;
  const found = (await files.list(W1_DEVICES)).find((name) => /^28-[0-9a-f]{12}$/i.test(name));
  if (!found) {
    throw new DeviceError(
      `no DS18B20 under ${W1_DEVICES} (enable 1-Wire: dtoverlay=w1-gpio in /boot/firmware/config.txt)`,
    );
  }
  return found;
}

export default defineDevice({
  type: 'ds18b20',
  description: 'DS18B20 1-Wire temperature probe',
  options,
  fields: [
    temperature({ name: 'temperature', description: 'Temperature' }),
    stringField({ name: 'sensorId', description: '1-Wire id of the probe', flags: ['identity'] }),
  ],
  source: {
    kind: 'poll',
    defaultInterval: '30s',
    async read({ hal, options }) {
      const id = await findSensor(hal.files, options.sensor);
      const dir = `${W1_DEVICES}/${id}`;
      const slave = await hal.files.readTextIfExists(`${dir}/w1_slave`);
      let milli: number;
      if (slave !== undefined) milli = parseW1Slave(slave);
      else {
        const text = await hal.files.readTextIfExists(`${dir}/temperature`);
        if (text === undefined) throw new DeviceError(`1-Wire sensor ${id} is not on the bus`);
        milli = parseTemperatureFile(text);
      }
      return { temperature: milli / 1000, sensorId: id };
    },
  },
});
