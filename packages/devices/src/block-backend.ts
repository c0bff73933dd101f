/**
 * Block storage as device models use it: the subset of `@vfu/block`'s `BlockBackend` that disk
 * controllers call, so `@vfu/devices` needs no dependency on the block layer and any
 * `BlockBackend` (file, null-co, nbd) can be handed to a device.
 */

/** Flags of a write. */
export interface DeviceBlockWriteFlags {
  /** Force Unit Access: the data is on stable storage when the write completes. */
  fua?: boolean;
}

/** Flags of a write-zeroes. */
export interface DeviceBlockWriteZeroesFlags extends DeviceBlockWriteFlags {
  /** The range may be deallocated instead of written, as long as it then reads as zeroes. */
  mayUnmap?: boolean;
}

/**
 * A block device's storage. Offsets and lengths are bytes. Failures reject with an error
 * carrying a POSIX errno name (`errnoName` or `errno`: `EIO`, `ENOSPC`, `EROFS`), a numeric
 * `errno`, or a Node-style `code`.
 */
export interface DeviceBlockBackend {
  /** Size in bytes. */
  readonly size: number;
  /** Whether writes are refused. */
  readonly readOnly: boolean;
  /** Reads `sum(iov lengths)` bytes at `offset` into the views, in order, without copying. */
  readv(offset: number, iov: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /** Writes the views, in order, at `offset`. */
  writev(
    offset: number,
    iov: Uint8Array | readonly Uint8Array[],
    flags?: DeviceBlockWriteFlags,
  ): Promise<void>;
  /** Makes every completed write durable (fdatasync). */
  flush(): Promise<void>;
  /** Makes `length` bytes at `offset` read as zeroes. */
  writeZeroes(offset: number, length: number, flags?: DeviceBlockWriteZeroesFlags): Promise<void>;
  /** Deallocates `length` bytes at `offset`; afterwards they read as zeroes. */
  discard(offset: number, length: number): Promise<void>;
}
