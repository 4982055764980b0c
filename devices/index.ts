/** Every built-in device type. A new type is one file here plus its line below (the invariant test checks). */
import type { DeviceDefinition } from '../src/sdk/index.js';
import ds18b20 from './ds18b20.js';
import gpioInput from './gpio_input.js';
import gpioOutput from './gpio_output.js';
import lineSerial from './line_serial.js';
import mhz19 from './mhz19.js';
import nmeaGps from './nmea_gps.js';
import pms5003 from './pms5003.js';
import sds011 from './sds011.js';
import system from './system.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- definitions differ in their option types
export const builtinDevices: DeviceDefinition<any>[] = [
  system,
  gpioInput,
  gpioOutput,
  ds18b20,
  sds011,
  pms5003,
  mhz19,
  nmeaGps,
  lineSerial,
];
