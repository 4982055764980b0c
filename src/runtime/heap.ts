/**
 * V8 heap tuning for the long-running agent process.
 *
 * While the agent starts, almost everything it allocates survives (modules, device definitions, the schema,
 * statements), and V8 answers high survival rates by doubling the young generation, up to 16 MiB per
 * semi-space. The agent never needs that afterwards: in steady state it allocates a few kB per reading. Keeping
 * the young generation at its initial size costs more frequent (sub-millisecond) scavenges and saves 4–7 MiB of
 * resident memory (measured with bench/scenarios/footprint.ts; README "Performance"). The flag is read each time
 * V8 considers growing the young generation, so setting it at run time, before the agent loads, takes effect
 * (node:v8 `setFlagsFromString`, used for this one documented V8 flag only).
 */
import { setFlagsFromString } from 'node:v8';

export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
