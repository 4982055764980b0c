import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import ds18b20, { parseTemperatureFile, parseW1Slave } from '../../devices/ds18b20.js';
import {
  crc8,
  type OneWireSimulator,
  startOneWireSimulator,
  w1SlaveText,
} from '../../firmware-sim/onewire.js';
import { silentLogger } from '../../src/core/logger.js';
import { createFileSource } from '../../src/hal/files.js';
import { parseOptions, validate } from '../../src/sdk/options.js';

/** Captured from a DS18B20 on a Raspberry Pi (w1_therm). */
const REAL_OK = '72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n';
const REAL_CRC_NO = '72 01 4b 46 7f ff 0e 10 57 : crc=c1 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n';
const POWER_ON = '50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n';
const NEGATIVE = 'ec ff 4b 46 7f ff 04 10 1f : crc=1f YES\nec ff 4b 46 7f ff 04 10 1f t=-1250\n';

describe('w1_slave and temperature files', () => {
  it('reads millidegrees when the CRC line says YES', () => {
    expect(parseW1Slave(REAL_OK)).toBe(23125);
    expect(parseW1Slave(NEGATIVE)).toBe(-1250);
    expect(parseTemperatureFile('23125\n')).toBe(23125);
  });

  it('rejects a CRC failure, the 85 °C power-on value, and garbage', () => {
    expect(() => parseW1Slave(REAL_CRC_NO)).toThrow(/CRC/);
    expect(() => parseW1Slave(POWER_ON)).toThrow(/power-on/);
    expect(() => parseTemperatureFile('85000\n')).toThrow(/power-on/);
    expect(() => parseW1Slave('')).toThrow(/no CRC line/);
    expect(() => parseW1Slave('72 01 : crc=57 YES\n72 01\n')).toThrow(/no t=/);
    expect(() => parseW1Slave('00 : crc=00 YES\n00 t=130000\n')).toThrow(/out of range/);
    expect(() => parseTemperatureFile('\n')).toThrow(/no temperature/);
  });

  it('the simulator writes what the kernel writes: Maxim CRC-8 and 1/16 °C steps', () => {
    expect(crc8([0x72, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0e, 0x10])).toBe(0x57);
    expect(w1SlaveText(85).split('\n')[0]).toBe(POWER_ON.split('\n')[0]);
    expect(w1SlaveText(-1.25).split('\n')[1]).toMatch(/^ec ff .* t=-1250$/);
    expect(parseW1Slave(w1SlaveText(21.3))).toBe(21312); // 341/16 °C, truncated like the kernel
    expect(() => parseW1Slave(w1SlaveText(21.3, false))).toThrow(/CRC/);
  });
});

describe('ds18b20 on a simulated 1-Wire tree', () => {
  let sim: OneWireSimulator | undefined;
  afterEach(() => sim?.stop());

  const read = (options: Record<string, unknown>) => {
    if (ds18b20.source.kind !== 'poll') throw new Error('expected a poll source');
    return ds18b20.source.read({
      deviceId: 'probe',
      options: parseOptions(ds18b20.options, options),
      hal: { files: createFileSource({ sys: (sim as OneWireSimulator).root }) },
      log: silentLogger(),
      signal: new AbortController().signal,
    });
  };

  it('finds the first DS18B20, or the configured one', async () => {
    sim = startOneWireSimulator({
      probes: [
        { id: '28-0000000000b2', celsius: 30 },
        { id: '28-0000000000a1', celsius: 19.5 },
      ],
    });
    writeFileSync(join(sim.devices, '10-000000000001'), ''); // a DS18S20 (family 10) is not picked by default
    expect(await read({})).toEqual({ temperature: 19.5, sensorId: '28-0000000000a1' });
    expect(await read({ sensor: '28-0000000000b2' })).toEqual({
      temperature: 30,
      sensorId: '28-0000000000b2',
    });
  });

  it('fails on a CRC error, a brown-out, a vanished probe, an empty bus; recovers when the fault clears', async () => {
    const id = '28-0316a2795bff';
    sim = startOneWireSimulator({ probes: [{ id, celsius: (ms) => 20 + ms / 1e6 }] });
    expect((await read({ sensor: id })).temperature).toBeCloseTo(20, 1);
    sim.setCrcFailure(id, true);
    await expect(read({ sensor: id })).rejects.toThrow(/CRC/);
    sim.setCrcFailure(id, false);
    sim.setPowerOnReset(id, true);
    await expect(read({ sensor: id })).rejects.toThrow(/85 °C/);
    sim.setPowerOnReset(id, false);
    expect((await read({ sensor: id })).temperature).toBeCloseTo(20, 1);
    sim.remove(id);
    await expect(read({ sensor: id })).rejects.toThrow(/not on the bus/);
    await expect(read({})).rejects.toThrow(/dtoverlay=w1-gpio/);
  });

  it('falls back to the temperature file where w1_slave is absent', async () => {
    const id = '28-00000000c0de';
    sim = startOneWireSimulator({ probes: [{ id, celsius: -10.0625 }], intervalMs: 60_000 });
    rmSync(join(sim.devices, id, 'w1_slave'));
    expect(await read({ sensor: id })).toEqual({ temperature: -10.062, sensorId: id }); // truncated, as the kernel does
  });

  it('validates the id option', () => {
    expect(validate(ds18b20.options, { sensor: '28-xyz' }).ok).toBe(false);
    expect(validate(ds18b20.options, {}).ok).toBe(true);
  });
});
