import { hex } from '@vfu/errors';
import { Errno, ProtocolError } from '@vfu/protocol';
import { ClientError } from './errors';
import type { GuestMemory } from './guest-memory';

/** One DMA mapping the client gave the server: `size` bytes of `memory` at `memoryOffset`, seen at `iova`. */
export interface DmaMapping {
  readonly iova: bigint;
  readonly size: bigint;
  readonly memory: GuestMemory;
  readonly memoryOffset: number;
  /** The device may read this range. */
  readonly readable: boolean;
  /** The device may write this range. */
  readonly writable: boolean;
  /** True when the memfd was passed (the server maps it); false for the message-based path. */
  readonly viaFd: boolean;
}

/**
 * The client's view of the DMA address space it gave the server: non-overlapping mappings by
 * IOVA. It answers the server's DMA_READ/DMA_WRITE requests (the message-based path) with the
 * errnos QEMU's client uses: ENODEV for an address no mapping covers, EPERM for a direction the
 * mapping does not allow.
 */
export class DmaSpace {
  readonly #mappings: DmaMapping[] = [];

  /** Current mappings, sorted by IOVA. */
  get mappings(): readonly DmaMapping[] {
    return this.#mappings;
  }

  /** Checks that `[iova, iova+size)` overlaps no mapping; throws `invalid-argument` otherwise. */
  checkFree(iova: bigint, size: bigint): void {
    for (const m of this.#mappings) {
      if (iova < m.iova + m.size && m.iova < iova + size) {
        throw new ClientError(
          'invalid-argument',
          `DMA range ${hex(iova)}+${hex(size)} overlaps the mapping at ${hex(m.iova)}+${hex(m.size)}`,
        );
      }
    }
  }

  /** Adds a mapping (after the server accepted it). */
  add(mapping: DmaMapping): void {
    this.checkFree(mapping.iova, mapping.size);
    this.#mappings.push(mapping);
    this.#mappings.sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  }

  /** Removes `mapping`; false if it was not there. */
  remove(mapping: DmaMapping): boolean {
    const i = this.#mappings.indexOf(mapping);
    if (i < 0) return false;
    this.#mappings.splice(i, 1);
    return true;
  }

  /** Removes every mapping. */
  clear(): void {
    this.#mappings.length = 0;
  }

  /** The mapping holding all of `[address, address+count)`, or a ProtocolError with the errno to reply. */
  #resolve(address: bigint, count: bigint, write: boolean): { mapping: DmaMapping; offset: number } {
    for (const m of this.#mappings) {
      if (address >= m.iova && address + count <= m.iova + m.size) {
        if (write ? !m.writable : !m.readable) {
          throw new ProtocolError(
            'bad-field',
            `DMA ${write ? 'write to' : 'read from'} ${hex(address)} not permitted`,
            {
              errno: Errno.EPERM,
            },
          );
        }
        return { mapping: m, offset: m.memoryOffset + Number(address - m.iova) };
      }
    }
    throw new ProtocolError(
      'bad-field',
      `DMA access ${hex(address)}+${hex(count)} is not inside one mapping`,
      {
        errno: Errno.ENODEV,
      },
    );
  }

  /** Serves a DMA_READ: a copy of `count` bytes at `address`. Throws ProtocolError (ENODEV/EPERM/EFAULT). */
  read(address: bigint, count: bigint): Uint8Array {
    const { mapping, offset } = this.#resolve(address, count, false);
    if (mapping.memory.closed) {
      throw new ProtocolError('bad-field', 'DMA read from closed guest memory', { errno: Errno.EFAULT });
    }
    return mapping.memory.read(offset, Number(count));
  }

  /** Serves a DMA_WRITE: stores `data` at `address`. Throws ProtocolError (ENODEV/EPERM/EFAULT). */
  write(address: bigint, data: Uint8Array): void {
    const { mapping, offset } = this.#resolve(address, BigInt(data.length), true);
    if (mapping.memory.closed) {
      throw new ProtocolError('bad-field', 'DMA write to closed guest memory', { errno: Errno.EFAULT });
    }
    mapping.memory.write(offset, data);
  }
}
