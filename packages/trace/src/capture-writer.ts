/**
 * CaptureWriter: appends vfio-user messages to a pcapng file as they cross a socket, with a size
 * cap per file and rotation (`trace.pcapng` -> `trace.1.pcapng` -> ... up to `files` kept), so a
 * long run cannot fill the disk. Writes are synchronous, so messages appear in the order they were
 * tapped and a crash loses nothing already tapped.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { extname } from 'node:path';
import { TraceError } from './errors';
import {
  enhancedPacketBlock,
  interfaceDescriptionBlock,
  PacketDirection,
  sectionHeaderBlock,
} from './pcapng';
import { encodeRecordHeader, type MessageDirection, VFIO_USER_LINKTYPE } from './record';

/** Options of {@link CaptureWriter.open}. */
export interface CaptureWriterOptions {
  /** Bytes per file before it is rotated (default 64 MiB; at least 64 KiB). */
  maxFileBytes?: number;
  /** Files kept, the current one included (default 2; 1 = truncate and start over). */
  files?: number;
  /** Message bytes kept per packet; longer messages are cut (default 256 KiB, Wireshark's limit). */
  snapLength?: number;
  /** Written into each section header (shb_userappl), e.g. `vfu-server 0.3.0`. */
  application?: string;
  /** Called once when writing fails; the writer then stops capturing (the run goes on). */
  onError?: (error: TraceError) => void;
}

/** What {@link CaptureWriter.tapFor} returns: one message in, written. */
export interface CaptureMessage {
  direction: 'received' | 'sent';
  parts: readonly Uint8Array[];
  fds: number;
  /** ms since the epoch. */
  time: number;
}

interface Endpoint {
  name: string;
  description: string | undefined;
}

const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
const DEFAULT_SNAP_LENGTH = 256 * 1024;

/** `dir/trace.pcapng`, 2 -> `dir/trace.2.pcapng`. */
export function rotatedPath(path: string, n: number): string {
  if (n === 0) return path;
  const ext = extname(path);
  return ext === '' ? `${path}.${n}` : `${path.slice(0, -ext.length)}.${n}${ext}`;
}

/** A pcapng capture being written. */
export class CaptureWriter {
  readonly path: string;
  readonly #maxFileBytes: number;
  readonly #files: number;
  readonly #snapLength: number;
  readonly #application: string | undefined;
  readonly #onError: ((error: TraceError) => void) | undefined;
  readonly #endpoints: Endpoint[] = [];
  #fd: number | undefined;
  #size = 0;
  #packetsInFile = 0;
  #failed = false;
  #packets = 0;

  private constructor(path: string, options: CaptureWriterOptions) {
    this.path = path;
    this.#maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.#files = options.files ?? 2;
    this.#snapLength = options.snapLength ?? DEFAULT_SNAP_LENGTH;
    this.#application = options.application;
    this.#onError = options.onError;
    if (!Number.isSafeInteger(this.#maxFileBytes) || this.#maxFileBytes < 64 * 1024) {
      throw new TraceError(
        'invalid-argument',
        `maxFileBytes must be at least 65536, got ${this.#maxFileBytes}`,
      );
    }
    if (!Number.isSafeInteger(this.#files) || this.#files < 1 || this.#files > 1000) {
      throw new TraceError('invalid-argument', `files must be 1..1000, got ${this.#files}`);
    }
    if (!Number.isSafeInteger(this.#snapLength) || this.#snapLength < 64) {
      throw new TraceError('invalid-argument', `snapLength must be at least 64, got ${this.#snapLength}`);
    }
  }

  /** Creates (or truncates) `path` and writes the section header. Throws `write-failed`. */
  static open(path: string, options: CaptureWriterOptions = {}): CaptureWriter {
    const writer = new CaptureWriter(path, options);
    writer.#startFile(true);
    return writer;
  }

  /** Messages written so far (all files). */
  get packets(): number {
    return this.#packets;
  }

  /** False once writing failed or the writer was closed. */
  get capturing(): boolean {
    return !this.#failed && this.#fd !== undefined;
  }

  /**
   * Adds an endpoint (one pcapng interface) and returns a function making the tap of each of its
   * connections. `role` is the capturing side: a server receives client-to-server messages, a
   * client sends them.
   */
  endpoint(
    name: string,
    description: string | undefined,
    role: 'server' | 'client',
  ): (connection: number) => (m: CaptureMessage) => void {
    const id = this.#endpoints.length;
    this.#endpoints.push({ name, description });
    this.#write(interfaceDescriptionBlock(this.#iface(this.#endpoints[id] as Endpoint)));
    return (connection) => (m) => this.#message(id, connection, role, m);
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // Nothing more to flush: every block was written synchronously.
    }
    this.#fd = undefined;
  }

  #iface(e: Endpoint) {
    return {
      linkType: VFIO_USER_LINKTYPE,
      snapLength: this.#snapLength + 8,
      name: e.name,
      ...(e.description === undefined ? {} : { description: e.description }),
    };
  }

  #message(id: number, connection: number, role: 'server' | 'client', m: CaptureMessage): void {
    if (this.#failed || this.#fd === undefined) return;
    const c2s = (m.direction === 'received') === (role === 'server');
    const direction: MessageDirection = c2s ? 'c2s' : 's2c';
    const record = encodeRecordHeader({ direction, fds: m.fds, connection });
    const micros = BigInt(Math.round(m.time * 1000));
    const epb = enhancedPacketBlock(
      id,
      micros,
      [record, ...m.parts],
      m.direction === 'received' ? PacketDirection.inbound : PacketDirection.outbound,
      this.#snapLength + 8,
    );
    if (this.#packetsInFile > 0 && this.#size + epb.byteLength > this.#maxFileBytes) this.#rotate();
    if (this.#write(epb)) {
      this.#packetsInFile++;
      this.#packets++;
    }
  }

  #rotate(): void {
    this.close();
    try {
      rmSync(rotatedPath(this.path, this.#files - 1), { force: true });
      for (let n = this.#files - 2; n >= 0; n--) {
        try {
          renameSync(rotatedPath(this.path, n), rotatedPath(this.path, n + 1));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    } catch (cause) {
      this.#fail(
        new TraceError('write-failed', `rotating ${this.path}: ${(cause as Error).message}`, {
          path: this.path,
          cause,
        }),
      );
      return;
    }
    this.#startFile(false);
  }

  #startFile(throwOnError: boolean): void {
    try {
      this.#fd = openSync(this.path, 'w', 0o600);
    } catch (cause) {
      const error = new TraceError(
        'write-failed',
        `cannot create ${this.path}: ${(cause as Error).message}`,
        {
          path: this.path,
          cause,
        },
      );
      if (throwOnError) throw error;
      this.#fail(error);
      return;
    }
    this.#size = 0;
    this.#packetsInFile = 0;
    this.#write(sectionHeaderBlock(this.#application));
    for (const e of this.#endpoints) this.#write(interfaceDescriptionBlock(this.#iface(e)));
  }

  #write(bytes: Uint8Array): boolean {
    if (this.#failed || this.#fd === undefined) return false;
    try {
      let at = 0;
      while (at < bytes.byteLength) at += writeSync(this.#fd, bytes, at);
      this.#size += bytes.byteLength;
      return true;
    } catch (cause) {
      this.#fail(
        new TraceError('write-failed', `writing ${this.path}: ${(cause as Error).message}`, {
          path: this.path,
          cause,
        }),
      );
      return false;
    }
  }

  #fail(error: TraceError): void {
    if (this.#failed) return;
    this.#failed = true;
    this.close();
    this.#onError?.(error);
  }
}
