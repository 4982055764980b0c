/** Every built-in device type. A new type is one file here plus its line below (the invariant test checks). */
import type { DeviceDefinition } from '../src/sdk/index.js';
import system from './system.js';

// biome-ignore lint/suspicious/noExplicitAny: definitions differ in their option types
export const builtinDevices: DeviceDefinition<any>[] = [system];
