import { setTimeout as sleep } from 'node:timers/promises';
import { BlockBackendBase, type BlockCapabilities, type CommonBackendOptions } from '../backend';
import { BlockError } from '../errors';
import { type IoVector, segmentsOf } from '../io-vector';

/** Options of the `null-co` driver (QEMU's names in the comments). */
export interface NullCoOptions extends CommonBackendOptions {
  /** Size in bytes (`size`, default 1 GiB as in QEMU). */
  size?: number;
  /** Reads return zeros (`read-zeroes=on`); off, reads leave the buffers untouched, as QEMU does. */
  readZeroes?: boolean;
  /** Completion delay of every request in nanoseconds (`latency-ns`, default 0). */
  latencyNs?: number;
}

/** QEMU's default null-co size. */
export const NULL_CO_DEFAULT_SIZE = 1 << 30;

/**
 * QEMU's `null-co`: a device of the given size that stores nothing. Writes succeed and are
 * dropped; reads return zeros with `read-zeroes=on` and leave the caller's buffers as they were
 * otherwise. For benchmarks and tests of the layers above the storage.
 */
export class NullCoBackend extends BlockBackendBase {
  readonly driver = 'null-co';
  readonly size: number;
  readonly logicalBlockSize = 512;
  readonly physicalBlockSize = 512;
  readonly maxTransfer = 2 ** 31;
  readonly capabilities: Readonly<BlockCapabilities> = { discard: true, writeCache: false, fua: true };
  readonly readZeroes: boolean;
  readonly latencyNs: number;

  constructor(options: NullCoOptions = {}) {
    super(options);
    const size = options.size ?? NULL_CO_DEFAULT_SIZE;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new BlockError('invalid-option', `null-co: size must be a non-negative integer, got ${size}`, {
        driver: 'null-co',
        option: 'size',
      });
    }
    const latency = options.latencyNs ?? 0;
    if (!Number.isSafeInteger(latency) || latency < 0) {
      throw new BlockError(
        'invalid-option',
        `null-co: latency-ns must be a non-negative integer, got ${latency}`,
        {
          driver: 'null-co',
          option: 'latency-ns',
        },
      );
    }
    this.size = size;
    this.readZeroes = options.readZeroes ?? false;
    this.latencyNs = latency;
  }

  protected async doRead(_offset: number, iov: IoVector): Promise<void> {
    await this.#delay();
    if (this.readZeroes) for (const s of segmentsOf(iov)) s.fill(0);
  }

  protected doWrite(): Promise<void> {
    return this.#delay();
  }

  protected doFlush(): Promise<void> {
    return this.#delay();
  }

  protected doWriteZeroes(): Promise<void> {
    return this.#delay();
  }

  protected doDiscard(): Promise<void> {
    return this.#delay();
  }

  protected async doClose(): Promise<void> {}

  #delay(): Promise<void> {
    // Milliseconds are the timer's granularity; sub-millisecond latencies round up to one tick.
    return this.latencyNs === 0 ? Promise.resolve() : sleep(Math.max(1, Math.round(this.latencyNs / 1e6)));
  }
}
