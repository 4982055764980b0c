/**
 * One runner per configured device. It owns the cross-cutting behaviour, so device definitions stay pure
 * decoders (the Telegraf running_input habit): scheduling (interval or cron), read timeouts, retries with
 * backoff, availability, the per-field filter chains, and logging state changes once (not every retry).
 */
import schedule from 'node-schedule';
import type { DeviceConfig } from '../config/agent-config.js';
import { backoffDelay, type LongTimer, setLongTimeout } from '../core/duration.js';
import { DeviceError, DeviceTimeoutError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createFilterChain, type FilterChain } from '../filters/index.js';
import type { Field, FieldTypeFlag, FieldValue, QosFlag, Reading } from '../model/fields.js';
import type { ControlSpec, ControlValues, FieldSpec, Hal, SourceContext, Values } from '../sdk/index.js';

/** A field spec's defaults, shared like the spec's own arrays (nothing mutates a reading's flags). */
const DEFAULT_FLAGS: FieldTypeFlag[] = ['momentary'];
const DEFAULT_QOS: QosFlag[] = ['automaticReadout'];

export interface RunnerStatus {
  available: boolean | undefined;
  lastError?: { message: string; at: number };
  lastReadingAt?: number;
  reads: number;
  failures: number;
  overruns: number;
}

export interface DeviceRunner {
  readonly id: string;
  readonly config: DeviceConfig;
  /** The fields this device reports (config-disabled fields left out). */
  readonly fieldSpecs: FieldSpec[];
  start(): void;
  stop(): Promise<void>;
  /** A fresh sample for a readout: stateless transforms only; throws when the device cannot be read. */
  readNow(): Promise<Reading>;
  /** XEP-0325 parameters of this device (empty for sensors). */
  readonly controlSpecs: ControlSpec[];
  /**
   * Applies validated parameters in their order, then reads the device so the new state is stored and
   * published like any reading. Throws when the device refuses or cannot be reached.
   */
  set(values: ControlValues): Promise<void>;
  status(): RunnerStatus;
}

export interface RunnerDeps {
  config: DeviceConfig;
  hal: Hal;
  log: Logger;
  /** Called with each reading that passed the filters (at least one field). */
  onReading(reading: Reading): void;
  onAvailability?(available: boolean, error?: Error): void;
  now?: () => number;
  retry?: { baseMs: number; maxMs: number };
}

export function createDeviceRunner(deps: RunnerDeps): DeviceRunner {
  const { config, hal, log } = deps;
  const now = deps.now ?? Date.now;
  const source = config.definition.source;
  const fieldSpecs = config.fieldSpecs.filter((f) => config.fields[f.name]?.enabled !== false);
  const chains = new Map<string, FilterChain>(
    fieldSpecs.map((f) => [f.name, createFilterChain(config.fields[f.name]?.filters ?? [])]),
  );
  const status: RunnerStatus = { available: undefined, reads: 0, failures: 0, overruns: 0 };
  const abort = new AbortController();
  const ctx: SourceContext<unknown> = {
    deviceId: config.id,
    options: config.options,
    hal,
    log,
    signal: abort.signal,
  };
  // Polled devices retry at most once per interval. Stream devices (serial, GPIO) are retried every second at
  // most: reopening a vanished port is cheap, and a replugged sensor must resume within seconds (issue 3).
  const retryMaxMs =
    deps.retry?.maxMs ??
    (source.kind !== 'poll'
      ? 1000
      : config.schedule?.kind === 'every'
        ? Math.max(1000, config.schedule.ms)
        : 30_000);
  const retryBaseMs = Math.min(deps.retry?.baseMs ?? 500, retryMaxMs);
  let stopped = true;
  // Long timers: an interval (and so the retry ceiling) may be weeks, past setTimeout's 24.8 days.
  let timer: LongTimer | undefined;
  let retryTimer: LongTimer | undefined;
  let job: schedule.Job | undefined;
  let inFlight: Promise<Values> | undefined;
  let setting: Promise<void> | undefined;
  /** A readout's read, shared with the readouts that start in the same turn of the event loop (readShared). */
  let sharedRead: Promise<{ values: Values; at: number }> | undefined;
  let streamHandle:
    Awaited<ReturnType<Extract<typeof source, { kind: 'stream' | 'edge' }>['start']>> | undefined;
  let lastValues: { values: Values; at: number } | undefined;
  let consecutiveFailures = 0;
  const missingLogged = new Set<string>();
  // Fields that mirror a control parameter are reported writable (XEP-0323 §3.3, XEP-0325 §3.5).
  const writableFields = new Set(config.controlSpecs.flatMap((c) => (c.field ? [c.field] : [])));

  function toFields(
    values: Values,
    pick: (spec: FieldSpec, value: FieldValue) => FieldValue | undefined,
  ): Field[] {
    const fields: Field[] = [];
    for (const spec of fieldSpecs) {
      const raw = values[spec.name];
      if (raw === undefined || (typeof raw === 'number' && !Number.isFinite(raw))) {
        if (!spec.optional && !missingLogged.has(spec.name)) {
          missingLogged.add(spec.name);
          log.warn({ field: spec.name }, 'device reported no value for a field');
        }
        continue;
      }
      const value = pick(spec, raw);
      if (value === undefined) continue;
      // Built by assignment, not spreads of temporary objects: this runs for every field of every reading and
      // readout, and the spreads showed in the readout's profile (issue 12). Absent options stay absent.
      const field: Field = {
        name: spec.name,
        type: spec.type,
        value,
        flags: DEFAULT_FLAGS,
        qos: DEFAULT_QOS,
      };
      if (spec.unit !== undefined) field.unit = spec.unit;
      if (spec.decimals !== undefined) field.decimals = spec.decimals;
      if (spec.dataType !== undefined) field.dataType = spec.dataType;
      if (spec.flags) field.flags = spec.flags;
      if (spec.qos) field.qos = spec.qos;
      if (writableFields.has(spec.name)) field.writable = true;
      fields.push(field);
    }
    return fields;
  }

  function markAvailable(): void {
    consecutiveFailures = 0;
    if (status.available !== true) {
      if (status.available === false) log.info({}, 'device recovered'); // `device` is the logger's binding
      status.available = true;
      deps.onAvailability?.(true);
    }
  }

  function markFailed(err: Error): void {
    status.failures++;
    consecutiveFailures++;
    status.lastError = { message: err.message, at: now() };
    if (status.available !== false) {
      // Logged once per transition; retries stay quiet until the device recovers.
      log.warn({ code: (err as { code?: string }).code, err: err.message }, 'device unavailable');
      status.available = false;
      deps.onAvailability?.(false, err);
    }
  }

  function accept(values: Values): void {
    const at = now();
    lastValues = { values, at };
    status.reads++;
    markAvailable();
    const fields = toFields(values, (spec, raw) => chains.get(spec.name)?.process(raw, at));
    if (fields.length === 0) return;
    status.lastReadingAt = at;
    deps.onReading({ deviceId: config.id, timestamp: at, fields });
  }

  function readWithTimeout(): Promise<Values> {
    if (source.kind !== 'poll') throw new DeviceError('not a polled device');
    if (inFlight) return inFlight;
    if (setting) return setting.catch(() => undefined).then(() => readWithTimeout());
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new DeviceTimeoutError(config.timeoutMs)), config.timeoutMs);
    });
    const p = Promise.race([source.read(ctx), timeout]).finally(() => {
      clearTimeout(t);
      inFlight = undefined;
    });
    inFlight = p;
    return p;
  }

  /**
   * The read behind a momentary readout. Readouts whose requests arrived together (they start in the same turn
   * of the event loop) share one read of the device, made after all of them arrived: each still gets values read
   * after its request, and a burst of 16 costs one read (one bus transaction, three /proc files), not 16. Like a
   * read in progress (`inFlight`), which every caller shares already. A failed read is not kept.
   */
  function readShared(): Promise<{ values: Values; at: number }> {
    if (sharedRead) return sharedRead;
    const p = readWithTimeout().then((values) => ({ values, at: now() }));
    sharedRead = p;
    const forget = () => {
      if (sharedRead === p) sharedRead = undefined;
    };
    p.then(() => setImmediate(forget), forget);
    return p;
  }

  async function poll(): Promise<void> {
    if (stopped) return;
    if (inFlight || setting) {
      status.overruns++;
      return;
    }
    retryTimer?.clear();
    try {
      const values = await readWithTimeout();
      if (!stopped) accept(values);
    } catch (err) {
      if (stopped) return;
      markFailed(err as Error);
      // Retry sooner than the next scheduled read, with backoff; the schedule goes on regardless.
      retryTimer = setLongTimeout(
        () => void poll(),
        backoffDelay(consecutiveFailures - 1, retryBaseMs, retryMaxMs),
      );
    }
  }

  function scheduleEvery(ms: number): void {
    let next = now();
    const tick = () => {
      void poll();
      next += ms;
      // Skip missed slots (suspend, long GC) instead of bursting to catch up.
      const t = now();
      if (next <= t) next = t + ms - ((t - next) % ms);
      timer = setLongTimeout(tick, next - t);
    };
    tick();
  }

  async function startStream(): Promise<void> {
    if (source.kind === 'poll' || stopped) return;
    let failed = false;
    const fail = (err: Error) => {
      if (failed || stopped) return;
      failed = true;
      markFailed(err);
      const handle = streamHandle;
      streamHandle = undefined;
      void Promise.resolve(handle?.stop()).catch(() => undefined);
      retryTimer = setLongTimeout(
        () => void startStream(),
        backoffDelay(consecutiveFailures - 1, retryBaseMs, retryMaxMs),
      );
    };
    try {
      streamHandle = await source.start(ctx, (values) => !failed && !stopped && accept(values), fail);
      if (stopped) await streamHandle.stop();
    } catch (err) {
      fail(err as Error);
    }
  }

  return {
    id: config.id,
    config,
    fieldSpecs,
    start() {
      if (!stopped) return;
      stopped = false;
      if (source.kind !== 'poll') {
        void startStream();
      } else if (config.schedule?.kind === 'cron') {
        job = schedule.scheduleJob(config.schedule.expression, () => void poll());
        void poll();
      } else if (config.schedule?.kind === 'every') {
        scheduleEvery(config.schedule.ms);
      }
    },
    async stop() {
      stopped = true;
      abort.abort();
      timer?.clear();
      retryTimer?.clear();
      job?.cancel();
      const handle = streamHandle;
      streamHandle = undefined;
      await handle?.stop();
      await inFlight?.catch(() => undefined);
    },
    async readNow() {
      let values: Values;
      let at: number;
      if (source.kind === 'poll') {
        try {
          ({ values, at } = await readShared());
        } catch (err) {
          throw err instanceof Error ? err : new DeviceError(errorMessage(err));
        }
      } else if (streamHandle?.read) {
        values = await streamHandle.read();
        at = now();
      } else if (lastValues && status.available) {
        ({ values, at } = lastValues);
      } else {
        throw new DeviceError(status.lastError?.message ?? 'no reading yet');
      }
      const fields = toFields(values, (spec, raw) => chains.get(spec.name)?.transformOnly(raw) ?? raw);
      return { deviceId: config.id, timestamp: at, fields };
    },
    status: () => ({ ...status }),
    controlSpecs: config.controlSpecs,
    async set(values) {
      if (stopped) throw new DeviceError('device is stopped');
      if (source.kind === 'poll') {
        if (!source.set) throw new DeviceError('this device accepts no parameters');
        // Never overlap a read: both may open the same port (a serial port is locked while open).
        while (inFlight || setting) await (inFlight ?? setting)?.catch(() => undefined);
        sharedRead = undefined; // readouts after this change read the device again
        const applying = source.set(ctx, values);
        setting = applying;
        try {
          await applying;
        } finally {
          setting = undefined;
        }
        // Publish the new state at once rather than at the next scheduled read.
        await (inFlight as Promise<Values> | undefined)?.catch(() => undefined); // a readout may have started
        await poll();
        return;
      }
      const handle = streamHandle;
      if (!handle?.set)
        throw new DeviceError(
          handle
            ? 'this device accepts no parameters'
            : status.lastError
              ? `device is not running: it failed to start (${status.lastError.message}) and is retried`
              : 'device is not running: it is still starting',
        );
      await handle.set(values);
      if (handle.read) accept(await handle.read());
    },
  };
}
