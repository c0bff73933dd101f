/**
 * The client's DMA side: guest memory it allocates, DMA_MAP / DMA_UNMAP of it (by fd, or
 * without one so the server sends DMA_READ / DMA_WRITE), and the answers to those messages.
 */
import {
  Command,
  DmaMapFlags,
  DmaUnmapFlags,
  decodeMessage,
  Errno,
  encodeReplyPayload,
  type NegotiatedCapabilities,
  StructSize,
} from '@vfu/protocol';
import type { ChannelMessage } from '@vfu/transport';
import { type DmaMapping, DmaSpace } from './dma-space';
import { ClientError } from './errors';
import { GuestMemory, type GuestMemoryOptions } from './guest-memory';
import type { ClientLink } from './link';
import { toBigInt } from './region-io';

/** Options of {@link VfioUserClient.mapDma}. */
export interface DmaMapOptions {
  /** Offset into the guest memory (default 0; page aligned). */
  memoryOffset?: number;
  /** Bytes (default: the rest of the memory; page multiple). */
  size?: number;
  /** The device may only read (default: read and write). */
  readOnly?: boolean;
  /** Do not pass the memfd: the server must use DMA_READ/DMA_WRITE messages (default: `!passFds`). */
  viaMessages?: boolean;
}

/** The lowest page size of a `pgsizes` mask (4096 when empty). */
function lowestPageSize(pgsizes: number): number {
  for (let bit = 12; bit < 48; bit++) if (pgsizes & (2 ** bit)) return 2 ** bit;
  return 4096;
}

/** DMA mappings of one client and the guest memory behind them. */
export class ClientDma {
  readonly #link: ClientLink;
  readonly #negotiated: NegotiatedCapabilities;
  readonly #passFds: boolean;
  readonly #maxDataXferSize: number;
  readonly #space = new DmaSpace();
  readonly #ownedMemory = new Set<GuestMemory>();

  constructor(
    link: ClientLink,
    negotiated: NegotiatedCapabilities,
    passFds: boolean,
    maxDataXferSize: number,
  ) {
    this.#link = link;
    this.#negotiated = negotiated;
    this.#passFds = passFds;
    this.#maxDataXferSize = maxDataXferSize;
  }

  get mappings(): readonly DmaMapping[] {
    return this.#space.mappings;
  }

  allocateMemory(size: number, options: GuestMemoryOptions): GuestMemory {
    this.#link.checkOpen(Command.DmaMap);
    const memory = GuestMemory.create(size, options);
    this.#ownedMemory.add(memory);
    return memory;
  }

  async map(memory: GuestMemory, iova: bigint | number, options: DmaMapOptions): Promise<DmaMapping> {
    this.#link.checkOpen(Command.DmaMap);
    const addr = toBigInt(iova, 'iova');
    const memoryOffset = options.memoryOffset ?? 0;
    const size = options.size ?? memory.size - memoryOffset;
    const page = BigInt(lowestPageSize(this.#negotiated.pgsizes));
    if (
      !Number.isSafeInteger(memoryOffset) ||
      !Number.isSafeInteger(size) ||
      memoryOffset < 0 ||
      size <= 0 ||
      memoryOffset + size > memory.size
    ) {
      throw new ClientError(
        'out-of-range',
        `DMA map of 0x${memoryOffset.toString(16)}+0x${size.toString(16)} outside guest memory of 0x${memory.size.toString(16)} bytes`,
        { command: Command.DmaMap },
      );
    }
    if (addr % page !== 0n || BigInt(size) % page !== 0n || BigInt(memoryOffset) % page !== 0n) {
      throw new ClientError(
        'invalid-argument',
        `DMA map iova, offset and size must be multiples of the page size 0x${page.toString(16)}`,
        { command: Command.DmaMap },
      );
    }
    if (this.#space.mappings.length >= this.#negotiated.maxDmaMaps) {
      throw new ClientError(
        'not-supported',
        `the server accepts at most ${this.#negotiated.maxDmaMaps} DMA mappings`,
        {
          command: Command.DmaMap,
        },
      );
    }
    this.#space.checkFree(addr, BigInt(size));
    const viaFd = !(options.viaMessages ?? !this.#passFds);
    if (viaFd && (!this.#passFds || this.#negotiated.maxSendFds < 1)) {
      throw new ClientError(
        'not-supported',
        'fd passing is disabled for this session: map with viaMessages',
        {
          command: Command.DmaMap,
        },
      );
    }
    const flags = DmaMapFlags.Read | (options.readOnly === true ? 0 : DmaMapFlags.Write);
    const body = {
      argsz: StructSize.DmaMap,
      flags,
      offset: viaFd ? BigInt(memoryOffset) : 0n,
      addr,
      size: BigInt(size),
    };
    await this.#link.call(Command.DmaMap, body, viaFd ? { fds: [memory.fd] } : {});
    const mapping: DmaMapping = {
      iova: addr,
      size: BigInt(size),
      memory,
      memoryOffset,
      readable: true,
      writable: options.readOnly !== true,
      viaFd,
    };
    this.#space.add(mapping);
    return mapping;
  }

  async unmap(mapping: DmaMapping): Promise<void> {
    if (!this.#space.mappings.includes(mapping)) {
      throw new ClientError('invalid-argument', `no DMA mapping at 0x${mapping.iova.toString(16)}`, {
        command: Command.DmaUnmap,
      });
    }
    await this.#link.call(Command.DmaUnmap, {
      argsz: StructSize.DmaUnmap,
      flags: 0,
      addr: mapping.iova,
      size: mapping.size,
    });
    this.#space.remove(mapping);
  }

  async unmapAll(): Promise<void> {
    await this.#link.call(Command.DmaUnmap, {
      argsz: StructSize.DmaUnmap,
      flags: DmaUnmapFlags.All,
      addr: 0n,
      size: 0n,
    });
    this.#space.clear();
  }

  /** Serves the server's DMA_READ / DMA_WRITE against the DMA space; other commands get ENOSYS. */
  serve(request: ChannelMessage): { payload: Uint8Array } {
    const message = decodeMessage(request, { role: 'client', maxDataXferSize: this.#maxDataXferSize });
    if (message.kind === 'request' && message.command === Command.DmaRead) {
      const { address, count } = message.body;
      const data = this.#space.read(address, count);
      return { payload: encodeReplyPayload(Command.DmaRead, { address, count, data }) };
    }
    if (message.kind === 'request' && message.command === Command.DmaWrite) {
      const { address, count, data } = message.body;
      this.#space.write(address, data);
      return { payload: encodeReplyPayload(Command.DmaWrite, { address, count }) };
    }
    // decodeMessage with role 'client' already refused everything else with ENOSYS.
    throw new ClientError('not-supported', `unexpected ${message.command}`, { errno: Errno.ENOSYS });
  }

  /** Forgets every mapping and closes the memory this client allocated. */
  teardown(): void {
    this.#space.clear();
    for (const m of this.#ownedMemory) m.close();
    this.#ownedMemory.clear();
  }
}
