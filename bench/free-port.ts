import { createServer, type AddressInfo } from 'node:net';

/** A loopback TCP port nothing listens on right now (the OS picks it), for a bench's daemon or broker. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
