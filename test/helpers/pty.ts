/**
 * Real pseudo-terminal pairs from socat, standing in for a USB-UART or an HC-05 rfcomm link.
 * `devicePath` is what the source under test opens; the test writes the sensor's bytes into
 * `writerPath`. Unplugging kills socat, so both device nodes vanish exactly as a pulled USB
 * adapter's do; replugging starts it again on the same paths.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fsp, constants as fsc } from 'node:fs';
import { join } from 'node:path';

export function requireSocat(): void {
  const r = spawnSync('socat', ['-V'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error('socat is not installed: the serial tests need real pseudo-terminals; run "apt-get install socat" (see .ci/run)');
  }
}

export class PtyPair {
  readonly devicePath: string;
  readonly writerPath: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  constructor(dir: string, name = 'ttyV') {
    this.devicePath = join(dir, `${name}0`);
    this.writerPath = join(dir, `${name}1`);
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async plug(): Promise<void> {
    if (this.child) return;
    requireSocat();
    const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.devicePath}`, `pty,raw,echo=0,link=${this.writerPath}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    let ready = false;
    child.stderr.setEncoding('utf8');
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socat did not start within 20 s: ${stderr}`)), 20_000);
      child.stderr.on('data', (d: string) => {
        if (!ready) stderr += d;
        if (!ready && stderr.includes('starting data transfer loop')) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        if (ready) return;
        clearTimeout(timer);
        reject(new Error(`socat exited with ${code}: ${stderr}`));
      });
    });
    // socat creates the links before it logs the loop start, but be sure on a slow machine.
    for (let i = 0; i < 200 && !(existsSync(this.devicePath) && existsSync(this.writerPath)); i++) await new Promise((r) => setTimeout(r, 10));
  }

  /** Kills socat: both device nodes go away, the reader sees its port die. */
  async unplug(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    child.kill('SIGTERM');
    await this.exited;
    // socat removes its links on a clean exit; make sure, so the source sees ENOENT meanwhile.
    await fsp.rm(this.devicePath, { force: true });
    await fsp.rm(this.writerPath, { force: true });
  }

  async close(): Promise<void> {
    await this.unplug();
  }
}

/** The sensor's side: writes bytes into the pty's other end. */
export class PtyWriter {
  private handle: fsp.FileHandle | undefined;

  constructor(private readonly path: string) {}

  async open(): Promise<void> {
    this.handle = await fsp.open(this.path, fsc.O_WRONLY | fsc.O_NOCTTY);
  }

  /** Writes all bytes; false if the other end is gone (unplugged) instead of throwing. */
  async write(bytes: Uint8Array | string): Promise<boolean> {
    if (!this.handle) return false;
    try {
      const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
      let off = 0;
      while (off < buf.length) off += (await this.handle.write(buf, off, buf.length - off)).bytesWritten;
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
  }
}
