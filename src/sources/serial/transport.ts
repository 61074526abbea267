/**
 * A serial transport is anything that delivers bytes and tells when it is gone: the real
 * `serialport` (loaded lazily, native code), or whatever a test hands in. The source takes a
 * factory so tests need no module mocking (node-zwave-js's ZWaveSerialStream pattern).
 */
import type { EventEmitter } from 'node:events';
import { MotobioError, errorMessage } from '../../util/errors.js';

export interface SerialTransport extends EventEmitter {
  // events: 'data' (Buffer), 'close', 'error' (Error)
  destroy(): void;
}

export type SerialTransportFactory = (path: string, baudRate: number) => Promise<SerialTransport>;

export const openSerialPort: SerialTransportFactory = async (path, baudRate) => {
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, autoOpen: false, lock: true });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => {
      if (!err) return resolve();
      const code = (err as NodeJS.ErrnoException).code;
      const hint =
        /ENOENT|no such file/i.test(err.message) || code === 'ENOENT'
          ? 'the device is not there (unplugged, or the HC-05 not bound to rfcomm yet)'
          : /EACCES|permission/i.test(err.message)
            ? 'permission denied: add the daemon user to the "dialout" group'
            : /lock|EBUSY/i.test(err.message)
              ? 'another program holds the port; stop it (e.g. a serial monitor)'
              : 'check the path and the baud rate';
      reject(new MotobioError('SOURCE_UNAVAILABLE', `cannot open ${path}: ${errorMessage(err)}; ${hint}`, { cause: err }));
    });
  });
  return port;
};
