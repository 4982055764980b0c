/**
 * A digital input: push button, PIR motion sensor, reed switch, any contact. Interrupt driven: each (debounced)
 * change of level is a reading at once, no polling. `pin` is the BCM number whatever the kernel's numbering.
 */
import { parseDuration } from '../src/core/duration.js';
import { DeviceError } from '../src/core/errors.js';
import type { GpioPortFactory, Hal } from '../src/sdk/index.js';
import { booleanField, defineDevice, durationOption, v } from '../src/sdk/index.js';

const DURATION_HINT = 'expected a duration like "20ms"';

export const gpioPin = v.pipe(
  v.number('expected a BCM GPIO number like 17'),
  v.integer('expected a BCM GPIO number like 17'),
  v.minValue(0, 'expected a BCM GPIO number like 17'),
  v.maxValue(63, 'expected a BCM GPIO number (0–27 on the 40-pin header)'),
);

const options = v.strictObject({
  /** BCM line number (GPIO17 is header pin 11). */
  pin: gpioPin,
  /** true when the contact pulls the line to ground (button to GND with a pull-up): pressed reads true. */
  activeLow: v.optional(v.boolean(), false),
  /** The level must hold this long before it is reported (contact bounce); "0ms" reports every edge. */
  debounce: v.optional(durationOption(DURATION_HINT), '20ms'),
});

export function requireGpio(hal: Hal): GpioPortFactory {
  if (!hal.gpio) throw new DeviceError('this agent has no GPIO hal');
  return hal.gpio;
}

export default defineDevice({
  type: 'gpio_input',
  description: 'Digital input (button, PIR, reed switch), interrupt driven',
  options,
  fields: [booleanField({ name: 'state', description: 'Input active (after active-low inversion)' })],
  source: {
    kind: 'edge',
    async start({ hal, options }, emit, fail) {
      const port = await requireGpio(hal).open({
        pin: options.pin,
        direction: 'in',
        activeLow: options.activeLow,
        edge: 'both',
        debounceMs: parseDuration(options.debounce) ?? 0,
      });
      try {
        let last = await port.read();
        emit({ state: last });
        const unwatch = port.watch((value) => {
          // A bounce shorter than the debounce can settle back on the reported level: nothing changed.
          if (value === last) return;
          last = value;
          emit({ state: value });
        }, fail);
        return {
          async stop() {
            unwatch();
            await port.close();
          },
          read: async () => ({ state: await port.read() }),
        };
      } catch (err) {
        await port.close();
        throw err;
      }
    },
  },
});
