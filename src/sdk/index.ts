/**
 * The narrow API device files use (devices/*.ts import only from here). Pure: no I/O.
 * A device is data: identity, options schema, fields, and one source (poll, stream or edge). The runner owns
 * scheduling, retries, availability and filters; the hal gives the source its hardware.
 */
import type { Logger } from '../core/logger.js';
import type { FieldTypeFlag, FieldValue, QosFlag, ValueType } from '../model/fields.js';
import type { OptionsSchema } from './options.js';

export type { FieldValue } from '../model/fields.js';
export {
  durationOption,
  type OptionIssue,
  type OptionsSchema,
  parseOptions,
  v,
  type Validated,
  validate,
} from './options.js';

/** How a field is declared: one source of truth for its type, unit, flags and documentation. */
export interface FieldSpec {
  name: string;
  type: ValueType;
  unit?: string;
  decimals?: number;
  dataType?: string;
  description: string;
  /** Field-type flags (default: momentary). */
  flags?: FieldTypeFlag[];
  qos?: QosFlag[];
  /** Absent where the hardware may not have it (e.g. no thermal zone): not an error, just not reported. */
  optional?: boolean;
}

/** Values a source produced, by field name. Missing optional fields are simply absent. */
export type Values = Record<string, FieldValue | undefined>;

/** Hardware access the hal provides to sources; each member is an interface with a real adapter. */
export interface Hal {
  files: FileSource;
  /** GPIO lines by Raspberry Pi (BCM) number; absent where the host provides none (tests, other hals). */
  gpio?: GpioPortFactory;
  /** Serial ports (UART, USB adapters, pseudo-terminals); absent where the host provides none (tests, other hals). */
  serial?: SerialLinkFactory;
}

/** Reads text files under configurable roots, so /proc, /sys (1-Wire, thermal) can be simulated in tests. */
export interface FileSource {
  /** Path mapped under the configured roots (`/proc/loadavg` → `${procRoot}/loadavg`). */
  resolve(path: string): string;
  readText(path: string): Promise<string>;
  /** Undefined when the file does not exist (ENOENT); other errors throw. */
  readTextIfExists(path: string): Promise<string | undefined>;
  list(dir: string): Promise<string[]>;
}

export interface SourceContext<O> {
  deviceId: string;
  options: O;
  hal: Hal;
  log: Logger;
  signal: AbortSignal;
}

/** Read on a schedule (interval or cron). `read` throws on failure; the runner retries with backoff. */
export interface PollSource<O> {
  kind: 'poll';
  defaultInterval: string;
  read(ctx: SourceContext<O>): Promise<Values>;
  /** Applies validated XEP-0325 parameters (see `controls`), in document order; throws on failure. */
  set?(ctx: SourceContext<O>, values: ControlValues): Promise<void>;
}

/**
 * Pushes readings as the hardware produces them (serial streams, edges). `start` resolves once the source runs
 * and returns how to stop it; `emit` hands over a reading; `fail` reports a fault (the runner marks the device
 * unavailable and restarts the source with backoff).
 */
export interface StreamSource<O> {
  kind: 'stream' | 'edge';
  start(
    ctx: SourceContext<O>,
    emit: (values: Values) => void,
    fail: (err: Error) => void,
  ): Promise<StreamHandle>;
}

export interface StreamHandle {
  stop(): Promise<void> | void;
  /** A fresh sample for readouts; without it, readouts get the last values emitted. */
  read?(): Promise<Values>;
  /** Applies validated XEP-0325 parameters (see `controls`), in document order; throws on failure. */
  set?(values: ControlValues): Promise<void>;
}

export type Source<O> = PollSource<O> | StreamSource<O>;

export interface DeviceDefinition<O = Record<string, unknown>> {
  type: string;
  description: string;
  /** Device-specific options, validated as part of the config entry (beside id, type, interval, fields). */
  options: OptionsSchema<O>;
  fields: FieldSpec[] | ((options: O) => FieldSpec[]);
  source: Source<O>;
  /** XEP-0325 parameters this device accepts (actuators); the source's `set` applies them. */
  controls?: ControlSpec[] | ((options: O) => ControlSpec[]);
  /**
   * Options of a typical config entry (without id/type). Required when `fields` or `controls` depend on the
   * options: documentation and the invariant test over all definitions resolve them from it.
   */
  example?: Record<string, unknown>;
}

/** XEP-0325 parameter types (no `numeric`, no `enum`: enumerations are strings with `options`). */
export type ControlType =
  'boolean' | 'int' | 'long' | 'double' | 'string' | 'date' | 'time' | 'dateTime' | 'duration' | 'color';
/** boolean → boolean; int/double → number; long → bigint; the rest → their lexical string. */
export type ControlValue = boolean | number | bigint | string;
export type ControlValues = Record<string, ControlValue>;

export interface ControlSpec {
  name: string;
  type: ControlType;
  description: string;
  /** Inclusive range for int/long/double (XEP-0122 `<range/>`). */
  min?: number;
  max?: number;
  /** Allowed values of a string parameter (a list-single in the form). */
  options?: string[];
  /** Longest lexical value accepted, in characters (below the agent's limits.stringLength). */
  maxLength?: number;
  /** The field whose value this parameter sets: it is reported with writable='true'. */
  field?: string;
}

export function defineDevice<O>(definition: DeviceDefinition<O>): DeviceDefinition<O> {
  return definition;
}

/** Field presets: each names the quantity once, with its type and unit. */
type Preset = Omit<FieldSpec, 'type' | 'unit'> & { name: string };
const numeric =
  (unit: string, decimals: number) =>
  (spec: Omit<Preset, 'description'> & { description?: string }): FieldSpec => ({
    type: 'numeric',
    unit,
    decimals,
    description: spec.description ?? spec.name,
    ...spec,
  });

export const temperature = numeric('°C', 2);
export const humidity = numeric('%', 1);
export const percent = numeric('%', 1);
export const seconds = numeric('s', 0);
export const mebibytes = numeric('MiB', 1);
export const unitless = (spec: Omit<Preset, 'description'> & { description?: string; decimals?: number }) =>
  numeric('', spec.decimals ?? 2)(spec);

export function booleanField(spec: Preset): FieldSpec {
  return { type: 'boolean', ...spec };
}
export function stringField(spec: Preset): FieldSpec {
  return { type: 'string', ...spec };
}

/** GPIO lines by Raspberry Pi (BCM) number; the hal maps them to the kernel's numbers (the chip base). */
export interface GpioPortFactory {
  /** Exports and configures a line; throws a DeviceError naming the line when the kernel refuses. */
  open(options: GpioOpenOptions): Promise<GpioPort>;
}

export type GpioEdge = 'none' | 'rising' | 'falling' | 'both';

export interface GpioOpenOptions {
  /** BCM line number (GPIO17 is header pin 11), whatever the kernel's sysfs numbering. */
  pin: number;
  direction: 'in' | 'out';
  /** Logical levels inverted: `true` reads (and drives) the line low. */
  activeLow?: boolean;
  /** Outputs: the logical level driven from the moment the line becomes an output (default false). */
  initial?: boolean;
  /** Inputs: the edges that reach `watch` listeners (default `both`). */
  edge?: GpioEdge;
  /** Inputs: listeners see the level once it has been stable this long (default 0: every edge). */
  debounceMs?: number;
}

export interface GpioPort {
  /** The BCM line number asked for. */
  readonly pin: number;
  /** The kernel's sysfs number (pin + chip base). */
  readonly line: number;
  /** The logical level (active-low applied). */
  read(): Promise<boolean>;
  write(value: boolean): Promise<void>;
  /** Calls `listener` with the logical level after each matching edge (interrupt driven); returns an unsubscribe. */
  watch(listener: (value: boolean) => void, onError?: (err: Error) => void): () => void;
  /** Stops watching and unexports the line. Idempotent. */
  close(): Promise<void>;
}

/** Opens serial ports; the real adapter is `src/hal/serial.ts` (serialport, loaded lazily). */
export interface SerialLinkFactory {
  /** Throws a DeviceError naming the path when the port cannot be opened (absent, busy, no permission). */
  open(options: SerialOpenOptions): Promise<SerialLink>;
}

export interface SerialOpenOptions {
  /** `/dev/serial0`, `/dev/ttyUSB0`, or a pseudo-terminal in tests. */
  path: string;
  baudRate: number;
}

/**
 * An open port, always reading (flowing mode: only then does a vanished port end the link). Recovery is the
 * runner's job: a source reports `onClose` through `fail`, and the runner reopens it with backoff.
 */
export interface SerialLink {
  readonly path: string;
  /** Every chunk as it arrives (arbitrary boundaries: frames may be split or joined); returns an unsubscribe. */
  onData(listener: (chunk: Uint8Array) => void): () => void;
  /** Called once if the link ends without `close()`: the port vanished (unplugged) or failed. */
  onClose(listener: (err: Error) => void): () => void;
  /** Resolves once the bytes were handed to the kernel. */
  write(data: Uint8Array): Promise<void>;
  /** Closes the port and drops every listener. Idempotent. */
  close(): Promise<void>;
}
