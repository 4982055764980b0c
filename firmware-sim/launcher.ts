/**
 * `xiot sim --config agent.yaml`: starts the simulated hardware an agent config needs, so the agent (and the
 * demo) runs on it unmodified: a socat pty pair with the device's emulator behind each serial device's `port`,
 * and a 1-Wire tree under `hardware.sysRoot` with a probe per `ds18b20`. GPIO needs root and a private mount
 * namespace (firmware-sim/gpio); the launcher says so rather than pretending.
 */
import { mkdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { AgentConfig, DeviceConfig } from '../src/config/agent-config.js';
import { startOneWireSimulator } from './onewire.js';
import { startLineSerialSim } from './serial/line-serial.js';
import { startMhz19Sim } from './serial/mhz19.js';
import { startNmeaGpsSim } from './serial/nmea-gps.js';
import { startPms5003Sim } from './serial/pms5003.js';
import { startSds011Sim } from './serial/sds011.js';
import { curves, type SerialSim } from './serial/sim.js';

export interface SimulatedHardware {
  /** One line per device: what simulates it, or why nothing does. */
  readonly summary: string[];
  stop(): Promise<void>;
}

const sine = curves.sine;

function serialSim(device: DeviceConfig, port: string): Promise<SerialSim> {
  const at = { dir: dirname(port), name: basename(port) };
  switch (device.type) {
    case 'sds011':
      return startSds011Sim({
        ...at,
        scenario: { values: (t) => ({ pm25: sine(12, 4, 60)(t, 0), pm10: sine(20, 6, 90)(t, 0) }) },
      });
    case 'pms5003':
      return startPms5003Sim({
        ...at,
        scenario: {
          values: (t) => ({
            pm1: sine(6, 2, 50)(t, 0),
            pm25: sine(11, 4, 60)(t, 0),
            pm10: sine(18, 5, 80)(t, 0),
          }),
        },
      });
    case 'mhz19':
      return startMhz19Sim({
        ...at,
        scenario: { values: (t) => ({ co2: Math.round(sine(650, 150, 120)(t, 0)), temperature: 22 }) },
      });
    case 'nmea_gps':
      return startNmeaGpsSim({
        ...at,
        scenario: {
          values: (t) => ({
            latitude: 48.8584 + t * 1e-5,
            longitude: 2.2945,
            altitude: 35,
            speed: 3.6,
            fixQuality: 1,
            satellites: 9,
          }),
        },
      });
    case 'line_serial': {
      const names = Object.entries((device.options as { values: Record<string, { type: string }> }).values);
      return startLineSerialSim({
        ...at,
        scenario: {
          values: (t, n) =>
            Object.fromEntries(
              names.map(([name, spec]) => [
                name,
                spec.type === 'boolean'
                  ? n % 2 === 0
                  : spec.type === 'string'
                    ? `s${n}`
                    : spec.type === 'int'
                      ? n
                      : sine(20, 3, 60)(t, n),
              ]),
            ),
        },
      });
    }
    default:
      throw new Error(`no serial simulator for ${device.type}`);
  }
}

export async function startSimulatedHardware(config: AgentConfig): Promise<SimulatedHardware> {
  const summary: string[] = [];
  const stops: (() => Promise<void> | void)[] = [];
  const probes = config.devices.filter((d) => d.type === 'ds18b20');
  if (probes.length) {
    if (!config.hardware.sysRoot)
      throw new Error('ds18b20 devices: set hardware.sysRoot to a folder for the simulated 1-Wire tree');
    const w1 = startOneWireSimulator({ root: config.hardware.sysRoot, intervalMs: 1000 });
    probes.forEach((d, i) => {
      const id = (d.options as { sensor?: string }).sensor ?? `28-00000000000${i + 1}`;
      w1.add({ id, celsius: (ms) => 21 + 2 * Math.sin(ms / 30_000) + i });
      summary.push(`${d.id} (ds18b20): probe ${id} in ${w1.devices}`);
    });
    stops.push(() => w1.stop());
  }
  try {
    for (const d of config.devices) {
      const port = (d.options as { port?: string }).port;
      if (port !== undefined && ['sds011', 'pms5003', 'mhz19', 'nmea_gps', 'line_serial'].includes(d.type)) {
        // Never shadow real hardware: simulated ports live in ordinary folders, not under /dev.
        if (port.startsWith('/dev/'))
          throw new Error(
            `${d.id}: port ${port} is a real device path; point it at a folder of yours to simulate it`,
          );
        mkdirSync(dirname(port), { recursive: true });
        const sim = await serialSim(d, port);
        stops.push(() => sim.stop());
        summary.push(`${d.id} (${d.type}): emulator on ${sim.devicePath}`);
      } else if (d.type === 'gpio_input' || d.type === 'gpio_output') {
        summary.push(
          `${d.id} (${d.type}): not simulated here (GPIO needs root and a mount namespace: see firmware-sim/gpio)`,
        );
      } else if (d.type !== 'ds18b20') {
        summary.push(`${d.id} (${d.type}): real (nothing to simulate)`);
      }
    }
  } catch (err) {
    for (const stop of stops.reverse()) await stop();
    throw err;
  }
  return {
    summary,
    async stop() {
      for (const stop of stops.reverse()) await stop();
    },
  };
}
