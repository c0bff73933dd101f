import { createMemfd, MappedRegion, type OwnedFd, Seal } from '@vfu/sys';
import { ClientError } from './errors';

/** Options of {@link GuestMemory.create}. */
export interface GuestMemoryOptions {
  /** memfd name, shown in `/proc/<pid>/fd` of both peers (default `guest-ram`). */
  name?: string;
}

/**
 * Client memory a device may reach by DMA: a memfd of `size` bytes mapped into this process.
 * The memfd is sealed against shrinking, so a server that maps it can never fault on it. Offsets
 * are relative to the start of the memory; the DMA address is chosen when it is mapped
 * ({@link VfioUserClient.mapDma}). The creator closes it.
 */
export class GuestMemory {
  /** Size in bytes. */
  readonly size: number;
  /** The memfd name. */
  readonly name: string;
  readonly #fd: OwnedFd;
  readonly #region: MappedRegion;
  #closed = false;

  private constructor(name: string, fd: OwnedFd, region: MappedRegion) {
    this.name = name;
    this.#fd = fd;
    this.#region = region;
    this.size = region.length;
  }

  /** Allocates `size` bytes (a positive multiple of 4096) of zeroed shared memory. */
  static create(size: number, options: GuestMemoryOptions = {}): GuestMemory {
    if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0) {
      throw new ClientError(
        'invalid-argument',
        `guest memory size must be a positive multiple of 4096, got ${size}`,
      );
    }
    const name = options.name ?? 'guest-ram';
    const fd = createMemfd(name, { size, allowSealing: true });
    try {
      fd.addSeals(Seal.SHRINK | Seal.GROW | Seal.SEAL);
      return new GuestMemory(name, fd, MappedRegion.map(fd, { mode: 'shared' }));
    } catch (cause) {
      fd.close();
      throw cause;
    }
  }

  /** The memfd, to pass to a server. Throws `closed` after {@link close}. */
  get fd(): OwnedFd {
    this.#check(0, 0);
    return this.#fd;
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A live view of `length` bytes at `offset` (no copy; invalid after close). */
  view(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    return this.#region.bytes(offset, offset + length);
  }

  /** Copies `length` bytes at `offset` out of guest memory. */
  read(offset: number, length: number): Uint8Array {
    return this.view(offset, length).slice();
  }

  /** Copies `data` into guest memory at `offset`. */
  write(offset: number, data: Uint8Array): void {
    this.view(offset, data.length).set(data);
  }

  /** Fills `length` bytes at `offset` with `value`. */
  fill(offset: number, length: number, value: number): void {
    this.view(offset, length).fill(value);
  }

  /** Little-endian u32 at `offset`. */
  readU32(offset: number): number {
    const v = this.view(offset, 4);
    return new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);
  }

  /** Stores a little-endian u32 at `offset`. */
  writeU32(offset: number, value: number): void {
    const v = this.view(offset, 4);
    new DataView(v.buffer, v.byteOffset, 4).setUint32(0, value >>> 0, true);
  }

  /** Little-endian u64 at `offset`. */
  readU64(offset: number): bigint {
    const v = this.view(offset, 8);
    return new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true);
  }

  /** Stores a little-endian u64 at `offset`. */
  writeU64(offset: number, value: bigint): void {
    const v = this.view(offset, 8);
    new DataView(v.buffer, v.byteOffset, 8).setBigUint64(0, BigInt.asUintN(64, value), true);
  }

  /** Unmaps and closes the memfd. Idempotent. A server's own mapping stays valid until it unmaps. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#region.unmap();
    this.#fd.close();
  }

  #check(offset: number, length: number): void {
    if (this.#closed) throw new ClientError('closed', `guest memory ${this.name} is closed`);
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw new ClientError(
        'out-of-range',
        `guest memory access 0x${offset.toString(16)}+0x${length.toString(16)} outside ${this.name} (size 0x${this.size.toString(16)})`,
      );
    }
  }
}
