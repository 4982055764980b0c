/**
 * The host itself: load average, memory, uptime and CPU temperature (where a thermal zone exists).
 * Real on any Linux; the files are read through the hal so tests can point /proc and /sys elsewhere.
 */
import { hostname } from 'node:os';
import { DeviceError } from '../src/core/errors.js';
import type { FileSource, Values } from '../src/sdk/index.js';
import {
  defineDevice,
  mebibytes,
  percent,
  seconds,
  stringField,
  temperature,
  unitless,
  v,
} from '../src/sdk/index.js';

const options = v.strictObject({
  /** Thermal zone to report as cpuTemperature; default: the first whose type looks like a CPU, else zone 0. */
  thermalZone: v.optional(v.string()),
});

export default defineDevice({
  type: 'system',
  description: 'Host metrics: load average, memory, uptime, CPU temperature',
  options,
  fields: [
    unitless({ name: 'load1', description: '1-minute load average' }),
    unitless({ name: 'load5', description: '5-minute load average' }),
    unitless({ name: 'load15', description: '15-minute load average' }),
    mebibytes({ name: 'memTotal', description: 'Total memory', flags: ['status'] }),
    mebibytes({ name: 'memAvailable', description: 'Memory available for new work' }),
    percent({ name: 'memUsed', description: 'Share of memory in use' }),
    seconds({ name: 'uptime', description: 'Time since boot' }),
    temperature({ name: 'cpuTemperature', description: 'CPU temperature', optional: true }),
    stringField({ name: 'hostname', description: 'Host name', flags: ['identity'] }),
  ],
  source: {
    kind: 'poll',
    defaultInterval: '10s',
    async read({ hal, options }) {
      const [loadavg, meminfo, uptime] = await Promise.all([
        hal.files.readText('/proc/loadavg'),
        hal.files.readText('/proc/meminfo'),
        hal.files.readText('/proc/uptime'),
      ]);
      // Plain string scans, no regular expressions or per-line objects: a momentary readout runs this for
      // every request (issue 12), and /proc/meminfo has ~50 lines of which three matter.
      const [load1, load5, load15] = fieldsOf(loadavg, 3).map(Number);
      const total = meminfoKib(meminfo, 'MemTotal');
      const available = meminfoKib(meminfo, 'MemAvailable') ?? meminfoKib(meminfo, 'MemFree');
      if (total === undefined || available === undefined)
        throw new DeviceError('/proc/meminfo lacks MemTotal');
      const values: Values = {
        load1,
        load5,
        load15,
        memTotal: total / 1024,
        memAvailable: available / 1024,
        memUsed: ((total - available) / total) * 100,
        uptime: Number(fieldsOf(uptime, 1)[0]),
        cpuTemperature: await readCpuTemperature(hal.files, options.thermalZone),
        hostname: currentHostname(),
      };
      return values;
    },
  },
});

/** The first `n` whitespace-separated fields of a line of /proc text. */
function fieldsOf(text: string, n: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (out.length < n && i < text.length) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n')) i++;
    const start = i;
    while (i < text.length && text[i] !== ' ' && text[i] !== '\t' && text[i] !== '\n') i++;
    if (i > start) out.push(text.slice(start, i));
  }
  return out;
}

/** The value in kB of `key` in /proc/meminfo text (`MemTotal:       24683652 kB`), undefined when absent. */
export function meminfoKib(text: string, key: string): number | undefined {
  let at = text.startsWith(`${key}:`) ? 0 : text.indexOf(`\n${key}:`);
  if (at < 0) return undefined;
  if (at > 0) at++; // past the newline
  const [value] = fieldsOf(text.slice(at + key.length + 1, text.indexOf('\n', at) >>> 0), 1);
  const n = Number(value);
  return value === undefined || !Number.isFinite(n) ? undefined : n;
}

/** The host name, asked of the system at most once a second (an identity field, not a measurement). */
let hostnameCache = { name: '', at: -Infinity };
function currentHostname(): string {
  const now = Date.now();
  if (now - hostnameCache.at >= 1000) hostnameCache = { name: hostname(), at: now };
  return hostnameCache.name;
}

/**
 * The thermal zone chosen when `thermalZone` is not configured, per file source: listing /sys/class/thermal and
 * reading each zone's type on every reading cost a fifth of the agent's time per readout (CPU profile). Zones do
 * not change while the system runs; the choice is dropped (and made again) when its temperature cannot be read.
 * `null` records that the host has no zone.
 */
const chosenZones = new WeakMap<FileSource, string | null>();

async function readCpuTemperature(files: FileSource, zone: string | undefined): Promise<number | undefined> {
  const base = '/sys/class/thermal';
  let chosen = zone ?? chosenZones.get(files);
  if (chosen === undefined) {
    const zones = (await files.list(base)).filter((z) => z.startsWith('thermal_zone'));
    for (const z of zones) {
      const type = (await files.readTextIfExists(`${base}/${z}/type`))?.trim() ?? '';
      if (/cpu|x86_pkg|soc|core/i.test(type)) {
        chosen = z;
        break;
      }
    }
    chosen ??= zones[0] ?? null;
    chosenZones.set(files, chosen);
  }
  if (chosen === null) return undefined;
  const milli = await files.readTextIfExists(`${base}/${chosen}/temp`);
  if (milli === undefined && zone === undefined) chosenZones.delete(files);
  return milli === undefined ? undefined : Number(milli.trim()) / 1000;
}
