/**
 * DMA: the client's memory as the device sees it (DMA_MAP / DMA_UNMAP, DMA_READ / DMA_WRITE).
 *
 * Model. Every endpoint owns one PCI root bus, and the bus owns a DMA container (`bus.dmaRoot`):
 * the IOVA space of this client, and of nothing else. Each DMA_MAP becomes one MemoryRegion placed
 * in that container at its IOVA, in one memory transaction:
 * - with an fd: the fd is mmapped (`@vfu/sys` MappedRegion) and the mapping becomes a RAM region
 *   over those bytes (read-only when the client withheld WRITE). Device DMA to it is a plain copy.
 * - without an fd: an async-io region whose accesses become DMA_READ / DMA_WRITE messages to the
 *   client, cut into chunks of the client's `max_data_xfer_size`.
 * Devices reach the container through their bus-master alias (`PciDevice.dmaRead/dmaWrite`), so
 * Command.BUS_MASTER, an IOMMU on the bus and unassigned holes all apply without this module knowing.
 *
 * Rules. Mappings never overlap: a map over an existing range fails with EEXIST (the spec), except
 * an identical re-map of a message-served range, which libvfio-user accepts and so do we. Unmap
 * needs an exact (addr, size) match (ENOENT otherwise). Before an unmap is answered the region is
 * out of the DMA space (new accesses fail as unassigned) and every message DMA already in flight
 * on it has settled; then the memory is unmapped and the fd closed. The number of mappings is
 * bounded by the negotiated `max_dma_maps` (ENOSPC beyond). Protection follows the map flags:
 * a write to a range without WRITE, or a read without READ, is refused (`access-error` to the
 * device, never a message to the client). A client may truncate the file behind a mapping: the
 * `@vfu/sys` SIGBUS guard absorbs the fault, the access fails (`access-error`, so edu's DMA fails
 * and NVMe reports a Data Transfer Error), and `policy.poisoned` hears of it so the endpoint can
 * drop the client. Fds not sealed against shrinking can also be refused outright.
 *
 * Logging. DMA_LOGGING_START turns on the memory core's dirty log of every fd-backed RAM mapping
 * (the device's writes through the DMA space mark pages); DMA_LOGGING_REPORT reads and clears it
 * for one whole mapping, rescaled to the page size asked.
 */

import { hex } from '@vfu/errors';
import { MemoryRegion } from '@vfu/memory';
import type { PciRootBus } from '@vfu/pci';
import { DmaMapFlags, type DmaMapRequest, dirtyBitmapSize, Errno, setPageDirty } from '@vfu/protocol';
import { isSysError, MappedRegion, type OwnedFd } from '@vfu/sys';
import { ClientRam } from './client-ram';
import { reject, ServerError } from './errors';

/** Page size mappings are aligned to when an fd offset is not. */
const PAGE = 4096n;
/**
 * Smallest dirty-logging page size, at START and REPORT (as Linux VFIO's 4 KiB minimum): smaller
 * pages only multiply the bitmap work (page size 1 over 256 MiB froze every endpoint for 11 s).
 */
export const MIN_LOGGING_PAGE_SIZE = 4096n;
/** Largest logging page size. */
const MAX_LOGGING_PAGE_SIZE = 1n << 30n;

/** How the controller talks to the client for ranges mapped without an fd. */
export interface DmaMessenger {
  /** Largest `count` of one DMA_READ/DMA_WRITE (the client's `max_data_xfer_size`). */
  readonly maxTransferSize: number;
  /** One DMA_READ; resolves with exactly `count` bytes. */
  read(address: bigint, count: number): Promise<Uint8Array>;
  /** One DMA_WRITE. */
  write(address: bigint, data: Uint8Array): Promise<void>;
}

/** How fds given with DMA_MAP are trusted. */
export interface DmaFdPolicy {
  /** Refuse (EPERM) fds without F_SEAL_SHRINK, which a client could truncate under our mapping. */
  requireShrinkSeal?: boolean;
  /** Told once per client when an unsealed fd is mapped. */
  warn?: (message: string) => void;
  /**
   * Told (on the event loop) when the client took away memory behind a mapping: a truncated memfd
   * or file, absorbed by the SIGBUS guard. Device accesses to it fail from then on; the client is
   * broken. `range` names the mapping (IOVA+size).
   */
  poisoned?: (range: string) => void;
  /** Most bytes mapped at once, summed over the mappings (ENOSPC beyond; default unlimited). */
  maxBytes?: bigint;
}

/** One live DMA mapping. */
export interface DmaMapping {
  readonly iova: bigint;
  readonly size: bigint;
  /** DMA_MAP flags (READ/WRITE...). */
  readonly flags: number;
  /** File offset in the client's fd (0 without fd). */
  readonly fdOffset: bigint;
  /** Whether the mapping is backed by client memory mapped here (else served by messages). */
  readonly mapped: boolean;
  /** The region placed in `bus.dmaRoot`. */
  readonly region: MemoryRegion;
}

interface Mapping extends DmaMapping {
  /** The client's memory when shared by fd. */
  ram: ClientRam | undefined;
  memory: MappedRegion | undefined;
  fd: OwnedFd | undefined;
  inflight: Set<Promise<unknown>>;
}

/** DMA mappings of one client connection on one root bus. */
export class DmaController {
  readonly #bus: PciRootBus;
  readonly #messenger: DmaMessenger;
  readonly #maxMaps: number;
  readonly #policy: DmaFdPolicy;
  /** Sorted by IOVA. */
  #maps: Mapping[] = [];
  #warnedUnsealed = false;
  /** Dirty-page logging page size while DMA logging runs. */
  #loggingPageSize: number | undefined;

  constructor(bus: PciRootBus, messenger: DmaMessenger, maxMaps: number, policy: DmaFdPolicy = {}) {
    this.#bus = bus;
    this.#messenger = messenger;
    this.#maxMaps = maxMaps;
    this.#policy = policy;
  }

  /** The live mappings, by IOVA. */
  get mappings(): readonly DmaMapping[] {
    return this.#maps;
  }

  /** Bytes mapped, summed over the mappings. */
  get mappedBytes(): bigint {
    let n = 0n;
    for (const m of this.#maps) n += m.size;
    return n;
  }

  /** Message DMA accesses not yet answered, across all mappings. */
  get inflight(): number {
    let n = 0;
    for (const m of this.#maps) n += m.inflight.size;
    return n;
  }

  /** DMA_MAP. Takes ownership of `fd` (closed on failure). */
  map(q: DmaMapRequest, fd: OwnedFd | undefined): void {
    try {
      this.#map(q, fd);
    } catch (e) {
      fd?.close();
      throw e;
    }
  }

  #map(q: DmaMapRequest, fd: OwnedFd | undefined): void {
    const range = `${hex(q.addr)}+${hex(q.size)}`;
    if ((q.flags & (DmaMapFlags.Read | DmaMapFlags.Write)) === 0) {
      throw reject(`DMA_MAP ${range}: neither READ nor WRITE`);
    }
    const end = q.addr + q.size;
    const clash = this.#maps.find((m) => m.iova < end && q.addr < m.iova + m.size);
    if (clash !== undefined) {
      const identical =
        fd === undefined &&
        !clash.mapped &&
        clash.iova === q.addr &&
        clash.size === q.size &&
        clash.flags === q.flags;
      if (identical) return;
      throw reject(
        `DMA_MAP ${range} overlaps the mapping ${hex(clash.iova)}+${hex(clash.size)}`,
        Errno.EEXIST,
      );
    }
    if (this.#maps.length >= this.#maxMaps) {
      throw reject(`DMA_MAP ${range}: already ${this.#maps.length} mappings (max_dma_maps)`, Errno.ENOSPC);
    }
    const maxBytes = this.#policy.maxBytes;
    if (maxBytes !== undefined && this.mappedBytes + q.size > maxBytes) {
      throw reject(
        `DMA_MAP ${range}: ${hex(this.mappedBytes)} bytes already mapped, the cap is ${hex(maxBytes)} (maxDmaBytes)`,
        Errno.ENOSPC,
      );
    }
    const canRead = (q.flags & DmaMapFlags.Read) !== 0;
    const canWrite = (q.flags & DmaMapFlags.Write) !== 0;
    const name = `${this.#bus.id} dma ${range}`;
    let memory: MappedRegion | undefined;
    let region: MemoryRegion;
    let ram: ClientRam | undefined;
    const inflight = new Set<Promise<unknown>>();
    if (fd !== undefined) {
      memory = mapFd(fd, q.offset, q.size, range);
      if (!memory.shrinkSealed) {
        // A peer that truncates a mapped file makes the next access fault (SIGBUS): fatal here.
        if (this.#policy.requireShrinkSeal === true) {
          memory.unmap();
          throw reject(
            `DMA_MAP ${range}: the fd is not sealed against shrinking (F_SEAL_SHRINK)`,
            Errno.EPERM,
          );
        }
        if (!this.#warnedUnsealed) {
          this.#warnedUnsealed = true;
          this.#policy.warn?.(
            'client DMA memory is not sealed against shrinking (F_SEAL_SHRINK): if the client truncates it, device DMA to it fails and the client is disconnected',
          );
        }
      }
      ram = new ClientRam({
        bus: this.#bus,
        name,
        memory,
        delta: Number(q.offset % PAGE),
        size: q.size,
        canRead,
        canWrite,
        owner: this,
        refuse: (what) => permission(range, what),
        lost: () => lostMemory(range),
      });
      const mapped = memory;
      mapped.onPoisoned(() => {
        if (this.#maps.some((x) => x.memory === mapped)) this.#policy.poisoned?.(range);
      });
      region = ram.region;
    } else {
      region = MemoryRegion.asyncIo(
        name,
        q.size,
        {
          read: (offset, dest) => {
            if (!canRead) return Promise.reject(permission(range, 'read'));
            return track(inflight, this.#messageRead(q.addr + offset, dest));
          },
          write: (offset, data) => {
            if (!canWrite) return Promise.reject(permission(range, 'write'));
            return track(inflight, this.#messageWrite(q.addr + offset, data));
          },
        },
        { owner: this },
      );
    }
    try {
      this.#bus.memoryContext.transaction(() => this.#bus.dmaRoot.addSubregion(q.addr, region));
    } catch (e) {
      memory?.unmap();
      throw reject(`DMA_MAP ${range}: ${(e as Error).message}`, Errno.EINVAL);
    }
    if (this.#loggingPageSize !== undefined && ram?.isRam === true) ram.setLogging(this.#loggingPageSize);
    const mapping: Mapping = {
      iova: q.addr,
      size: q.size,
      flags: q.flags,
      fdOffset: fd === undefined ? 0n : q.offset,
      mapped: fd !== undefined,
      region,
      ram,
      memory,
      fd,
      inflight,
    };
    this.#maps.push(mapping);
    this.#maps.sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  }

  /**
   * DMA_UNMAP of exactly `[addr, addr + size)`. Resolves once the range is out of the DMA space,
   * its in-flight message DMA has settled and its memory is unmapped.
   */
  async unmap(addr: bigint, size: bigint): Promise<void> {
    const m = this.#maps.find((x) => x.iova === addr && x.size === size);
    if (m === undefined) {
      throw reject(`DMA_UNMAP ${hex(addr)}+${hex(size)} matches no mapping`, Errno.ENOENT);
    }
    await this.#release([m]);
  }

  /** DMA_UNMAP with ALL, and client disconnect: every mapping. */
  async unmapAll(): Promise<void> {
    await this.#release([...this.#maps]);
  }

  /** Whether DMA dirty-page logging runs, and at which page size. */
  get loggingPageSize(): number | undefined {
    return this.#loggingPageSize;
  }

  /**
   * DMA_LOGGING_START: logs device writes to every fd-backed mapping (present and future) at
   * `pageSize`. Ranges are not narrowed (libvfio-user logs everything too). A second start with
   * another page size is EINVAL.
   */
  startLogging(pageSize: bigint): void {
    checkLoggingPageSize(pageSize, 'DMA_LOGGING_START');
    const size = Number(pageSize);
    if (this.#loggingPageSize !== undefined) {
      if (this.#loggingPageSize === size) return;
      throw reject(`DMA logging already runs with page size ${hex(this.#loggingPageSize)}`);
    }
    this.#loggingPageSize = size;
    for (const m of this.#maps) if (m.ram?.isRam === true) m.ram.setLogging(size);
  }

  /** DMA_LOGGING_STOP: stops logging and forgets what was logged. */
  stopLogging(): void {
    this.#loggingPageSize = undefined;
    for (const m of this.#maps) if (m.ram?.isRam === true) m.ram.setLogging(undefined);
  }

  /**
   * DMA_LOGGING_REPORT: the dirty bitmap of `[iova, iova + length)` at `pageSize` (one bit per
   * page, LSB first in little-endian u64 words), cleared as it is read. As libvfio-user, the range
   * must be exactly one mapping (ENOTSUP otherwise) and that mapping fd-backed RAM (EINVAL).
   * Large reports are built in slices that yield to the event loop.
   */
  async loggingReport(iova: bigint, length: bigint, pageSize: bigint): Promise<Uint8Array> {
    const logged = this.#loggingPageSize;
    if (logged === undefined) throw reject('DMA_LOGGING_REPORT while DMA logging is not running');
    checkLoggingPageSize(pageSize, 'DMA_LOGGING_REPORT');
    const m = this.#maps.find((x) => x.iova === iova && x.size === length);
    if (m === undefined) {
      throw reject(
        `DMA_LOGGING_REPORT ${hex(iova)}+${hex(length)} is not exactly one mapping`,
        Errno.ENOTSUP,
      );
    }
    const ram = m.ram;
    if (ram?.isRam !== true) {
      throw reject(`DMA_LOGGING_REPORT ${hex(iova)}+${hex(length)}: mapping is not memory shared with an fd`);
    }
    const out = new Uint8Array(Number(dirtyBitmapSize(length, pageSize)));
    // Mappings are below 2^53 bytes (mapFd), so page arithmetic is exact in numbers.
    const P = logged;
    const R = Number(pageSize);
    const last = Number(length) - 1;
    await ram.takeDirty((p) => {
      // Logged page p covers [p*P, (p+1)*P): mark every report page it touches.
      const first = Math.floor((p * P) / R);
      const end = Math.floor(Math.min(p * P + P - 1, last) / R);
      for (let q = first; q <= end; q++) setPageDirty(out, q);
      return end - first + 1;
    });
    return out;
  }

  async #release(list: Mapping[]): Promise<void> {
    if (list.length === 0) return;
    this.#maps = this.#maps.filter((m) => !list.includes(m));
    this.#bus.memoryContext.transaction(() => {
      for (const m of list) this.#bus.dmaRoot.removeSubregion(m.region);
    });
    // New accesses now miss; wait for the ones already talking to the client.
    const waiting = list.flatMap((m) => [...m.inflight]);
    if (waiting.length > 0) await Promise.allSettled(waiting);
    for (const m of list) {
      m.memory?.unmap();
      m.fd?.close();
    }
  }

  async #messageRead(address: bigint, dest: Uint8Array): Promise<void> {
    const max = this.#messenger.maxTransferSize;
    for (let done = 0; done < dest.length; ) {
      const n = Math.min(max, dest.length - done);
      const data = await this.#messenger.read(address + BigInt(done), n);
      dest.set(data.subarray(0, n), done);
      done += n;
    }
  }

  async #messageWrite(address: bigint, data: Uint8Array): Promise<void> {
    const max = this.#messenger.maxTransferSize;
    for (let done = 0; done < data.length; ) {
      const n = Math.min(max, data.length - done);
      await this.#messenger.write(address + BigInt(done), data.subarray(done, done + n));
      done += n;
    }
  }
}

function mapFd(fd: OwnedFd, offset: bigint, size: bigint, range: string): MappedRegion {
  const base = offset - (offset % PAGE);
  const length = offset - base + size;
  if (base + length > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw reject(`DMA_MAP ${range}: fd range ${hex(offset)}+${hex(size)} is too large to map`, Errno.ENOSPC);
  }
  try {
    return MappedRegion.map(fd, { offset: Number(base), length: Number(length) });
  } catch (e) {
    const errno =
      isSysError(e) && e.code === 'SYSCALL_FAILED' && e.errno !== undefined ? e.errno : Errno.EINVAL;
    throw new ServerError(
      'request-rejected',
      `DMA_MAP ${range}: cannot map the fd: ${(e as Error).message}`,
      {
        errno,
        cause: e,
      },
    );
  }
}

function lostMemory(range: string): ServerError {
  return new ServerError(
    'dma-failed',
    `DMA to mapping ${range} failed: the client truncated the memory behind it`,
    {
      errno: Errno.EFAULT,
    },
  );
}

function checkLoggingPageSize(pageSize: bigint, what: string): void {
  if (
    pageSize < MIN_LOGGING_PAGE_SIZE ||
    pageSize > MAX_LOGGING_PAGE_SIZE ||
    (pageSize & (pageSize - 1n)) !== 0n
  ) {
    throw reject(
      `${what}: page size ${hex(pageSize)} is not a power of two from ${hex(MIN_LOGGING_PAGE_SIZE)} to 1 GiB`,
    );
  }
}

function permission(range: string, what: 'read' | 'write'): ServerError {
  return new ServerError('dma-failed', `DMA ${what} refused: mapping ${range} does not allow it`, {
    errno: Errno.EPERM,
  });
}

/** Counts `p` as in flight until it settles. */
function track<T>(inflight: Set<Promise<unknown>>, p: Promise<T>): Promise<T> {
  inflight.add(p);
  const done = () => inflight.delete(p);
  p.then(done, done);
  return p;
}
