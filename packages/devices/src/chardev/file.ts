import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { DeviceError } from '../errors';
import { BufferedCharBackend } from './char-backend';

/** Options of {@link FileCharBackend}. */
export interface FileCharBackendOptions {
  /** Append to the file instead of truncating it (QEMU's `append=on`). */
  append?: boolean;
  /** Output bytes held while the file cannot take them (a FIFO nobody drains); default 1 MiB. */
  maxBufferedBytes?: number;
  /** Told once per episode of dropped output (default: `process.emitWarning`). */
  warn?: (message: string) => void;
}

/** How often a FIFO without a reader, or a full one, is tried again. */
const RETRY_MS = 100;

/**
 * A backend writing everything the UART sends to a file (QEMU's `file` chardev); it produces no
 * input. The file is opened and written without blocking, as one process serves many devices: a
 * FIFO with no reader yet (ENXIO) is opened later, and output a full FIFO cannot take waits in a
 * bounded buffer, retried on a timer; past the cap, output is dropped with a warning. A regular
 * file takes every write at once, so its output order is exact and nothing is lost at exit.
 */
export class FileCharBackend extends BufferedCharBackend {
  readonly kind = 'file';
  /** Path of the output file. */
  readonly path: string;
  /** Output bytes dropped because the file could not take them. */
  dropped = 0;
  private fd: number | undefined;
  private readonly flags: number;
  private readonly maxBuffered: number;
  private readonly warn: (message: string) => void;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private warnedDrop = false;

  /** Open (create, truncate unless `append`) `path`; throws `DeviceError` `chardev-failed`. */
  constructor(path: string, options: FileCharBackendOptions = {}) {
    super();
    this.path = path;
    this.maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.warn = options.warn ?? ((m) => process.emitWarning(m));
    this.flags =
      constants.O_WRONLY |
      constants.O_CREAT |
      constants.O_NONBLOCK |
      (options.append ? constants.O_APPEND : constants.O_TRUNC);
    try {
      this.fd = openSync(path, this.flags, 0o666);
    } catch (cause) {
      // A FIFO nobody reads yet: open it once a reader appears, keeping output meanwhile.
      if ((cause as NodeJS.ErrnoException).code !== 'ENXIO') {
        throw new DeviceError('chardev-failed', `chardev file: cannot open ${path}: ${String(cause)}`, {
          property: 'chardev',
          value: path,
          cause,
        });
      }
      this.schedule();
    }
  }

  write(data: Uint8Array): void {
    if (this.closed) return;
    if (this.pending.length === 0 && this.fd !== undefined) {
      const done = this.tryWrite(data);
      if (done === data.length) return;
      data = data.subarray(done);
    }
    this.hold(data);
  }

  override async close(): Promise<void> {
    clearTimeout(this.retry);
    this.retry = undefined;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      closeSync(fd);
    }
    await super.close();
  }

  /** Writes what the file takes now; returns the byte count (EAGAIN: a full FIFO). */
  private tryWrite(data: Uint8Array): number {
    let done = 0;
    try {
      while (done < data.length) done += writeSync(this.fd as number, data, done, data.length - done);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') {
        // EPIPE (the reader went away) and other failures: drop, as a disconnected UART would.
        this.drop(data.length - done, `write failed: ${(e as Error).message}`);
        return data.length;
      }
    }
    return done;
  }

  private hold(data: Uint8Array): void {
    const room = this.maxBuffered - this.pendingBytes;
    if (data.length > room) {
      this.drop(data.length - Math.max(0, room), `more than ${this.maxBuffered} bytes wait for the file`);
      data = data.subarray(0, Math.max(0, room));
    }
    if (data.length > 0) {
      this.pending.push(data.slice());
      this.pendingBytes += data.length;
    }
    this.schedule();
  }

  private drop(bytes: number, why: string): void {
    this.dropped += bytes;
    if (this.warnedDrop) return;
    this.warnedDrop = true;
    this.warn(`chardev file ${this.path}: output dropped: ${why}`);
  }

  private schedule(): void {
    if (this.retry !== undefined || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.flush();
    }, RETRY_MS);
    this.retry.unref();
  }

  private flush(): void {
    if (this.closed) return;
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.path, this.flags & ~constants.O_TRUNC, 0o666);
      } catch {
        this.schedule();
        return;
      }
    }
    while (this.pending.length > 0) {
      const head = this.pending[0] as Uint8Array;
      const done = this.tryWrite(head);
      this.pendingBytes -= done;
      if (done < head.length) {
        this.pending[0] = head.subarray(done);
        this.schedule();
        return;
      }
      this.pending.shift();
    }
    // Drained: a later overflow is a new episode worth a warning.
    this.warnedDrop = false;
  }
}
