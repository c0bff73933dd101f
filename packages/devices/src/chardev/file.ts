import { closeSync, openSync, writeSync } from 'node:fs';
import { DeviceError } from '../errors';
import { BufferedCharBackend } from './char-backend';

/** Options of {@link FileCharBackend}. */
export interface FileCharBackendOptions {
  /** Append to the file instead of truncating it (QEMU's `append=on`). */
  append?: boolean;
}

/**
 * A backend writing everything the UART sends to a file (QEMU's `file` chardev); it produces no
 * input. The file is opened at construction; writes are synchronous so output order is exact and
 * nothing is lost when the process exits.
 */
export class FileCharBackend extends BufferedCharBackend {
  readonly kind = 'file';
  /** Path of the output file. */
  readonly path: string;
  private fd: number | undefined;

  /** Open (create, truncate unless `append`) `path`; throws `DeviceError` `chardev-failed`. */
  constructor(path: string, options: FileCharBackendOptions = {}) {
    super();
    this.path = path;
    try {
      this.fd = openSync(path, options.append ? 'a' : 'w');
    } catch (cause) {
      throw new DeviceError('chardev-failed', `chardev file: cannot open ${path}: ${String(cause)}`, {
        property: 'chardev',
        value: path,
        cause,
      });
    }
  }

  write(data: Uint8Array): void {
    if (this.fd === undefined) return;
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done);
  }

  override async close(): Promise<void> {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      closeSync(fd);
    }
    await super.close();
  }
}
