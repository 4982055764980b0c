/**
 * A digital output: relay, LED, buzzer, MOSFET gate. The state is a field like any other (published on each
 * change) and an XEP-0325 parameter (`state`), plus `pulse`: on for a duration, then off again.
 * `initial` is driven when the agent starts and again when it stops (the safe state).
 */
import { DeviceError } from '../src/core/errors.js';
import { booleanField, defineDevice, v } from '../src/sdk/index.js';
import { gpioPin, requireGpio } from './gpio_input.js';

/** The longest pulse accepted, so a typo cannot leave a relay on for a day. */
export const MAX_PULSE_MS = 3_600_000;

const options = v.strictObject({
  /** BCM line number (GPIO17 is header pin 11). */
  pin: gpioPin,
  /** true when the load is on while the line is low (most relay boards): `state: true` drives it low. */
  activeLow: v.optional(v.boolean(), false),
  /** The state driven at start and on stop. */
  initial: v.optional(v.boolean(), false),
});

/** Milliseconds of an XML Schema duration without years or months (`PT0.5S`, `PT2M`); undefined otherwise. */
export function parseXsDuration(text: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text.trim());
  if (!m || text.trim() === 'P' || text.trim().endsWith('T')) return undefined;
  const [, d, h, min, s] = m;
  return Math.round(
    ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60_000 + Number(s ?? 0) * 1000,
  );
}

export default defineDevice({
  type: 'gpio_output',
  description: 'Digital output (relay, LED), writable',
  options,
  fields: [booleanField({ name: 'state', description: 'Output on (before active-low inversion)' })],
  controls: [
    { name: 'state', type: 'boolean', field: 'state', description: 'Switch the output on or off' },
    {
      name: 'pulse',
      type: 'duration',
      description: 'Switch the output on for this long (at most 1 h), then off',
    },
  ],
  source: {
    kind: 'stream',
    async start({ hal, options }, emit, fail) {
      const port = await requireGpio(hal).open({
        pin: options.pin,
        direction: 'out',
        activeLow: options.activeLow,
        initial: options.initial,
      });
      let pulseTimer: NodeJS.Timeout | undefined;
      let stopped = false;
      const drive = async (state: boolean) => {
        await port.write(state);
        emit({ state });
      };
      emit({ state: options.initial });
      return {
        async set(values) {
          if (stopped) throw new DeviceError('device is stopped');
          for (const [name, value] of Object.entries(values)) {
            if (name === 'state') {
              if (typeof value !== 'boolean') throw new DeviceError('state: expected a boolean');
              clearTimeout(pulseTimer);
              await drive(value);
            } else if (name === 'pulse') {
              const ms = typeof value === 'string' ? parseXsDuration(value) : undefined;
              if (ms === undefined || ms <= 0 || ms > MAX_PULSE_MS) {
                throw new DeviceError('pulse: expected a duration between PT0.001S and PT1H, like PT0.5S');
              }
              clearTimeout(pulseTimer);
              await drive(true);
              pulseTimer = setTimeout(() => {
                if (!stopped) drive(false).catch((err: Error) => fail(err));
              }, ms);
            } else {
              throw new DeviceError(`unknown parameter ${name}`);
            }
          }
        },
        async stop() {
          stopped = true;
          clearTimeout(pulseTimer);
          try {
            await port.write(options.initial);
          } finally {
            await port.close();
          }
        },
      };
    },
  },
});
