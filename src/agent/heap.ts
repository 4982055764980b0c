/**
 * V8 heap tuning for the long-running agent process (measured with bench/scenarios/footprint.ts; README
 * "Performance"). Two flags, each read by V8 at the moment it acts, so setting them at run time before the agent
 * loads takes effect (node:v8 `setFlagsFromString`, used for these documented V8 flags only):
 *
 * - `--semi-space-growth-factor=1`: while the agent starts, almost everything it allocates survives (modules,
 *   device definitions, statements), and V8 answers high survival by doubling the young generation, up to 16 MiB
 *   per semi-space. The agent never needs that afterwards (a few kB per reading). Keeping the young generation
 *   at its initial size costs more frequent sub-millisecond scavenges and saves 3–4 MiB of resident memory.
 * - `--no-concurrent-marking`: the helper threads that mark concurrently allocate their work lists from a malloc
 *   arena of their own, which glibc keeps resident afterwards: +3.3 MiB in about half of the starts. Marking
 *   stays incremental, on the main thread; the agent's heap is about 12 MiB, so each step is short.
 */
import { setFlagsFromString } from 'node:v8';

export function tuneHeapForAgent(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--no-concurrent-marking');
}

/**
 * Once the agent is online, the young generation may grow again (V8's default factor, 2), under load only: with
 * the initial size kept, 16 readouts in flight cost a scavenge every ~15 readouts and 10× the scavenge time
 * (`--trace-gc`: 534 ms against 56 ms for 4,000 readouts, 0.13 ms per readout, issue 12). Idle, nothing grows it,
 * and V8 shrinks it again when the allocation rate falls, so the footprint at rest is unchanged.
 */
export function relaxHeapAfterStart(): void {
  setFlagsFromString('--semi-space-growth-factor=2');
}
