/**
 * The real serial adapter over serialport, imported lazily so the agent installs and runs where it is absent.
 * Never calls `SerialPort.list()`: it spawns udevadm and, where that is missing, throws outside any try/catch
 * (it kills the process on a machine without udev).
 *
 * A vanished port is noticed two ways. Usually a read fails (EIO) and serialport closes with `disconnected`.
 * But once the kernel has hung the tty up, reads return 0 bytes, which @serialport/bindings-cpp 13 retries in
 * a loop forever, silently (measured: about 1 unplug in 40 on a pty). So a watchdog also checks that the path
 * still names the device that was opened, and ends the link when it does not.
 */
import { stat } from 'node:fs/promises';
import { DeviceError, errorMessage, MissingDependencyError } from '../core/errors.js';
import type { SerialLink, SerialLinkFactory, SerialOpenOptions } from '../sdk/index.js';

type SerialPortModule = typeof import('serialport');
type Port = InstanceType<SerialPortModule['SerialPort']>;

export interface SerialLinkFactoryOptions {
  /** Loads serialport (tests replace it); default `import('serialport')`. */
  load?: () => Promise<Pick<SerialPortModule, 'SerialPort'>>;
  /** How often the watchdog checks that the path still names the opened device (default 500 ms; 0: never). */
  watchIntervalMs?: number;
}

export function createSerialLinkFactory(options: SerialLinkFactoryOptions = {}): SerialLinkFactory {
  let loaded: Promise<Pick<SerialPortModule, 'SerialPort'>> | undefined;
  const load = () => {
    loaded ??= (options.load ?? (() => import('serialport')))().catch((err) => {
      loaded = undefined;
      throw new MissingDependencyError(`serialport (${errorMessage(err)})`, 'npm install serialport');
    });
    return loaded;
  };
  return {
    async open(opts) {
      const { SerialPort } = await load();
      // Identity of the device behind the path (symlinks followed), for the watchdog; taken before opening so
      // that nothing is awaited between opening and listening for errors.
      const identity = await stat(opts.path).then(
        (s) => ({ rdev: s.rdev, ino: s.ino }),
        () => undefined,
      );
      const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate, autoOpen: false });
      try {
        await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
      } catch (err) {
        port.removeAllListeners();
        port.on('error', () => undefined);
        throw new DeviceError(`cannot open ${opts.path}: ${openFailure(err, opts.path)}`, { cause: err });
      }
      return wrap(port, opts, identity, options.watchIntervalMs ?? 500);
    },
  };
}

/**
 * serialport's own text already names the path and its class ("Error: No such file or directory, cannot open
 * /dev/ttyUSB0"): keep only the reason, so the message says each thing once.
 */
export function openFailure(err: unknown, path: string): string {
  const text = errorMessage(err).replace(/^Error: /, '');
  const suffix = `, cannot open ${path}`;
  return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
}

function wrap(
  port: Port,
  opts: SerialOpenOptions,
  identity: { rdev: number; ino: number } | undefined,
  watchIntervalMs: number,
): SerialLink {
  const dataListeners = new Set<(chunk: Uint8Array) => void>();
  const closeListeners = new Set<(err: Error) => void>();
  let ended = false;
  let endedWith: Error | undefined;

  const end = (err: Error) => {
    if (ended) return;
    ended = true;
    endedWith = err;
    const listeners = [...closeListeners];
    release();
    for (const l of listeners) l(err);
  };
  // Listeners go, but a silent 'error' listener stays: a late error from a dropped port must never be unhandled.
  const release = () => {
    clearInterval(watchdog);
    dataListeners.clear();
    closeListeners.clear();
    port.removeAllListeners();
    port.on('error', () => undefined);
  };

  // A 'data' listener puts the stream in flowing mode: the binding keeps reading, so an unplug surfaces as
  // 'close' with `disconnected = true`.
  port.on('data', (chunk: Buffer) => {
    for (const l of dataListeners) l(chunk);
  });
  port.on('error', (err: Error) => {
    end(new DeviceError(`${opts.path}: ${err.message}`, { cause: err }));
    if (port.isOpen) port.close(() => undefined);
  });
  port.on('close', (err?: Error & { disconnected?: boolean }) => {
    end(
      new DeviceError(
        err?.disconnected
          ? `${opts.path} disconnected`
          : `${opts.path} closed${err ? `: ${err.message}` : ''}`,
        { cause: err },
      ),
    );
  });

  const vanished = () => {
    end(new DeviceError(`${opts.path} vanished`));
    if (port.isOpen) port.close(() => undefined);
  };
  const watchdog =
    identity && watchIntervalMs > 0
      ? setInterval(() => {
          stat(opts.path).then(
            (s) => {
              if (s.rdev !== identity.rdev || s.ino !== identity.ino) vanished();
            },
            (err: NodeJS.ErrnoException) => {
              if (err.code === 'ENOENT' || err.code === 'ENXIO' || err.code === 'ENODEV') vanished();
            },
          );
        }, watchIntervalMs)
      : undefined;
  watchdog?.unref();

  let closing: Promise<void> | undefined;
  return {
    path: opts.path,
    onData(listener) {
      if (ended) return () => undefined;
      dataListeners.add(listener);
      return () => dataListeners.delete(listener);
    },
    onClose(listener) {
      if (ended) {
        // Ended before anyone listened: still tell the late listener (never after close()).
        const err = endedWith;
        if (err) queueMicrotask(() => listener(err));
        return () => undefined;
      }
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    write(data) {
      if (ended || !port.isOpen) return Promise.reject(new DeviceError(`${opts.path} is not open`));
      return new Promise<void>((resolve, reject) => {
        port.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (err) => {
          if (err) return reject(new DeviceError(`${opts.path}: ${err.message}`, { cause: err }));
          port.drain((e) =>
            e ? reject(new DeviceError(`${opts.path}: ${e.message}`, { cause: e })) : resolve(),
          );
        });
      });
    },
    close() {
      closing ??= (async () => {
        ended = true;
        release();
        if (!port.isOpen) return;
        await new Promise<void>((resolve) => port.close(() => resolve()));
      })();
      return closing;
    },
  };
}
