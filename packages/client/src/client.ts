import { EventEmitter } from 'node:events';
import {
  CAPABILITY_DEFAULTS,
  Command,
  DmaMapFlags,
  DmaUnmapFlags,
  decodeMessage,
  encodeMessage,
  HEADER_SIZE,
  type NegotiatedCapabilities,
  negotiateClient,
  REGION_WRITE_MULTI_MAX_DATA,
  receiveLimits,
  type VersionCapabilities,
} from '@vfu/protocol';
import { EventFd, MappedRegion, type OwnedFd } from '@vfu/sys';
import {
  type Channel,
  type ChannelMessage,
  connect as connectChannel,
  isTransportError,
} from '@vfu/transport';
import { type DmaMapping, DmaSpace } from './dma-space';
import { ClientError, isClientError, VfioUserReplyError } from './errors';
import { GuestMemory, type GuestMemoryOptions } from './guest-memory';
import {
  checkRegionWriteReply,
  type DeviceInfo,
  decodeReply,
  deviceInfoFromReply,
  encodeRequestPayload,
  type IrqInfo,
  irqInfoFromReply,
  REGION_INFO_ARGSZ,
  type RegionInfo,
  regionInfoFromReply,
  regionInfoNeedsRetry,
  regionReadData,
} from './replies';

/** Options of {@link VfioUserClient.connect}. */
export interface ClientOptions {
  /**
   * Pass file descriptors to the server (default true). With false, DMA_MAP sends no fd (the
   * server reaches guest memory through DMA_READ/DMA_WRITE messages this client serves) and
   * interrupts cannot be bound to eventfds.
   */
  passFds?: boolean;
  /** Map the regions the server offers for mmap and access them directly (default true). */
  mmap?: boolean;
  /** Largest data transfer we accept (our `max_data_xfer_size`; default 1 MiB). */
  maxDataXferSize?: number;
  /** Most fds we accept in one message (our `max_msg_fds`; default 16). */
  maxMsgFds?: number;
  /** Timeout of each request in ms (default 5000, QEMU's; 0 = never). */
  requestTimeoutMs?: number;
  /** How long `connect` keeps retrying a busy socket (default 5000 ms). */
  connectTimeoutMs?: number;
}

/** One interrupt delivered by the server through an eventfd. */
export interface InterruptEvent {
  /** IRQ index ({@link VfioPciIrq}). */
  index: number;
  /** `intx`, `msi`, `msix`, `err` or `req`. */
  kind: InterruptKind;
  /** Vector (sub-index) within the index. */
  vector: number;
  /** Times the eventfd was signalled since it was last read (coalesced). */
  count: bigint;
}

/** Interrupt kinds by IRQ index. */
export type InterruptKind = 'intx' | 'msi' | 'msix' | 'err' | 'req';

const KIND_BY_INDEX: readonly InterruptKind[] = ['intx', 'msi', 'msix', 'err', 'req'];

/** Events of a {@link VfioUserClient}. */
export interface ClientEvents {
  /** An MSI vector fired. */
  msi: [vector: number];
  /** An MSI-X vector fired. */
  msix: [vector: number];
  /** The INTx line was asserted (automasked: unmask after handling). */
  intx: [];
  /** Any interrupt, with its index and count. */
  irq: [event: InterruptEvent];
  /** The connection ended; `error` is set when the server went away (not for a local close). */
  disconnect: [error: ClientError | undefined];
  /** A non-fatal anomaly (a malformed message from the server that was rejected, ...). */
  warning: [error: ClientError];
}

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

/** One region write of {@link VfioUserClient.regionWriteMulti}. */
export interface RegionWriteEntry {
  region: number;
  offset: bigint | number;
  /** At most 8 bytes. */
  data: Uint8Array;
}

interface MmapArea {
  offset: bigint;
  size: bigint;
  mapping: MappedRegion;
}

/** The VERSION we propose. libvfio-user speaks 0.2; servers reply with min(ours, theirs). */
const PROPOSED_MAJOR = 0;
const PROPOSED_MINOR = 2;
/** QEMU's REGION_WRITE_MULTI batch limit. */
const WRITE_MULTI_MAX_ENTRIES = 200;

function toBigInt(v: bigint | number, what: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n) throw new ClientError('invalid-argument', `${what} must not be negative, got ${v}`);
    return v;
  }
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new ClientError('invalid-argument', `${what} must be a non-negative integer, got ${v}`);
  }
  return BigInt(v);
}

/** Maps a transport failure (or anything else) of `command` to a ClientError. */
export function clientErrorFrom(error: unknown, command: number): ClientError {
  if (isClientError(error)) return error;
  if (isTransportError(error)) {
    const ctx = { command, cause: error, ...(error.msgId === undefined ? {} : { msgId: error.msgId }) };
    switch (error.code) {
      case 'ERROR_REPLY':
        return new VfioUserReplyError(command, error.errno ?? 0, error.msgId ?? 0, { cause: error });
      case 'PEER_CLOSED':
      case 'SOCKET_ERROR':
        return new ClientError('disconnected', `server connection lost: ${error.message}`, ctx);
      case 'CLOSED':
        return new ClientError('closed', `client closed: ${error.message}`, ctx);
      case 'TIMEOUT':
        return new ClientError('timeout', error.message, { ...ctx, errno: 110 });
      case 'PROTOCOL_VIOLATION':
      case 'UNEXPECTED_FDS':
        return new ClientError('bad-reply', error.message, ctx);
      case 'LIMIT_EXCEEDED':
        return new ClientError('invalid-argument', error.message, ctx);
      default:
        return new ClientError('transport', error.message, ctx);
    }
  }
  return new ClientError('transport', `${(error as Error)?.message ?? String(error)}`, {
    command,
    cause: error,
  });
}

/**
 * A vfio-user client (the VMM side): negotiates VERSION, enumerates the device's regions and
 * IRQs, reads and writes regions (through mmap where the server offers it), maps guest memory for
 * DMA (by fd, or by serving the server's DMA_READ/DMA_WRITE messages), binds interrupts to
 * eventfds and resets the device. Create with {@link VfioUserClient.connect}.
 */
export class VfioUserClient extends EventEmitter<ClientEvents> {
  /** VERSION the server replied with. */
  readonly version: { major: number; minor: number };
  /** Capabilities the server sent (raw). */
  readonly serverCapabilities: VersionCapabilities;
  /** What both sides agreed on. */
  readonly negotiated: NegotiatedCapabilities;
  /** DEVICE_GET_INFO. */
  readonly device: DeviceInfo;
  /** DEVICE_GET_REGION_INFO of every region, by index. */
  readonly regions: readonly RegionInfo[];
  /** DEVICE_GET_IRQ_INFO of every IRQ index, by index. */
  readonly irqs: readonly IrqInfo[];

  readonly #channel: Channel;
  readonly #options: Required<Pick<ClientOptions, 'passFds' | 'maxDataXferSize'>>;
  readonly #mmapAreas: Map<number, MmapArea[]>;
  readonly #dma = new DmaSpace();
  readonly #ownedMemory = new Set<GuestMemory>();
  readonly #irqFds = new Map<number, (EventFd | undefined)[]>();
  #closed = false;
  #refed = true;

  private constructor(init: {
    channel: Channel;
    options: Required<Pick<ClientOptions, 'passFds' | 'maxDataXferSize'>>;
    version: { major: number; minor: number };
    serverCapabilities: VersionCapabilities;
    negotiated: NegotiatedCapabilities;
    device: DeviceInfo;
    regions: RegionInfo[];
    irqs: IrqInfo[];
    mmapAreas: Map<number, MmapArea[]>;
  }) {
    super();
    this.#channel = init.channel;
    this.#options = init.options;
    this.version = init.version;
    this.serverCapabilities = init.serverCapabilities;
    this.negotiated = init.negotiated;
    this.device = init.device;
    this.regions = init.regions;
    this.irqs = init.irqs;
    this.#mmapAreas = init.mmapAreas;
    this.#channel.onRequest((request) => this.#serve(request));
    this.#channel.on('warning', (error) => {
      this.emit('warning', new ClientError('bad-reply', error.message, { cause: error }));
    });
    this.#channel.on('close', (error) => {
      const wasClosed = this.#closed;
      this.#teardown();
      this.emit(
        'disconnect',
        wasClosed || error === undefined ? undefined : clientErrorFrom(error, error.command ?? 0),
      );
    });
  }

  /**
   * Connects to the server at `path`, negotiates VERSION and reads the device, region and IRQ
   * info. Rejects with `connect-failed`, `handshake-failed` or the error of a failing request.
   */
  static async connect(path: string, options: ClientOptions = {}): Promise<VfioUserClient> {
    let channel: Channel;
    try {
      channel = await connectChannel(path, {
        requestTimeoutMs: options.requestTimeoutMs ?? 5000,
        ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      });
    } catch (cause) {
      // The transport's message already names the path; keep it as the whole text when it does.
      const text = (cause as Error).message;
      const message = text.includes(path) ? text : `cannot connect to ${path}: ${text}`;
      throw new ClientError('connect-failed', message, {
        path,
        cause,
        ...(isTransportError(cause) && cause.errno !== undefined ? { errno: cause.errno } : {}),
      });
    }
    return VfioUserClient.fromChannel(channel, options);
  }

  /**
   * Runs the handshake and enumeration on an already connected channel (a socket inherited by
   * fd, one end of a socketpair in tests). The client owns the channel from then on, and closes
   * it if the handshake fails.
   */
  static async fromChannel(channel: Channel, options: ClientOptions = {}): Promise<VfioUserClient> {
    const maxDataXferSize = options.maxDataXferSize ?? CAPABILITY_DEFAULTS.maxDataXferSize;
    const maxMsgFds = options.maxMsgFds ?? 16;
    if (!Number.isSafeInteger(maxDataXferSize) || maxDataXferSize < 8 || maxDataXferSize > 64 << 20) {
      channel.destroy();
      throw new ClientError('invalid-argument', `maxDataXferSize must be 8..64 MiB, got ${maxDataXferSize}`);
    }
    if (!Number.isSafeInteger(maxMsgFds) || maxMsgFds < 1 || maxMsgFds > 1024) {
      channel.destroy();
      throw new ClientError('invalid-argument', `maxMsgFds must be 1..1024, got ${maxMsgFds}`);
    }
    const mmaps = new Map<number, MmapArea[]>();
    try {
      const proposal = {
        major: PROPOSED_MAJOR,
        minor: PROPOSED_MINOR,
        capabilities: {
          maxMsgFds,
          maxDataXferSize,
          pgsizes: 4096,
          writeMultiple: true,
        } satisfies VersionCapabilities,
      };
      const versionReply = await request(
        channel,
        Command.Version,
        encodeRequestPayload(Command.Version, proposal),
        {
          acceptFds: 1,
        },
      );
      // We never propose twin-socket, so any fd here is unsolicited: close it.
      for (const fd of versionReply.takeFds()) fd.close();
      const version = decodeReply(Command.Version, versionReply);
      let negotiated: NegotiatedCapabilities;
      try {
        negotiated = negotiateClient(proposal, version, 0);
      } catch (cause) {
        throw new ClientError('handshake-failed', `VERSION negotiation failed: ${(cause as Error).message}`, {
          command: Command.Version,
          cause,
        });
      }
      const limits = receiveLimits(negotiated);
      channel.setReceiveLimits({
        maxMessageSize: Math.max(limits.maxMessageSize, HEADER_SIZE + REGION_INFO_ARGSZ),
        maxFdsPerMessage: limits.maxFdsPerMessage,
      });
      channel.setSendLimits({
        // Our own messages: region writes up to the server's limit, DMA_READ replies up to ours.
        maxMessageSize:
          HEADER_SIZE +
          16 +
          Math.max(negotiated.maxSendDataXferSize, negotiated.maxRecvDataXferSize, 8 + 24 * 200),
        maxFdsPerMessage: negotiated.maxSendFds,
      });

      const infoReply = await request(
        channel,
        Command.DeviceGetInfo,
        encodeRequestPayload(Command.DeviceGetInfo, { argsz: 16 }),
      );
      const device = deviceInfoFromReply(decodeReply(Command.DeviceGetInfo, infoReply));

      const regions: RegionInfo[] = [];
      for (let index = 0; index < device.numRegions; index++) {
        const { info, fd } = await queryRegion(channel, index);
        regions.push(info);
        if (fd !== undefined) {
          try {
            if (options.mmap !== false) {
              const areas = mapRegion(info, fd);
              if (areas.length > 0) mmaps.set(index, areas);
            }
          } finally {
            fd.close();
          }
        }
      }

      const irqs: IrqInfo[] = [];
      for (let index = 0; index < device.numIrqs; index++) {
        const reply = await request(
          channel,
          Command.DeviceGetIrqInfo,
          encodeRequestPayload(Command.DeviceGetIrqInfo, { argsz: 16, index }),
        );
        const irq = irqInfoFromReply(decodeReply(Command.DeviceGetIrqInfo, reply));
        if (irq.index !== index) {
          throw new ClientError(
            'bad-reply',
            `DEVICE_GET_IRQ_INFO for index ${index} answered index ${irq.index}`,
            {
              command: Command.DeviceGetIrqInfo,
              irqIndex: index,
            },
          );
        }
        irqs.push(irq);
      }

      return new VfioUserClient({
        channel,
        options: { passFds: options.passFds ?? true, maxDataXferSize },
        version: { major: version.major, minor: version.minor },
        serverCapabilities: version.capabilities ?? {},
        negotiated,
        device,
        regions,
        irqs,
        mmapAreas: mmaps,
      });
    } catch (error) {
      for (const areas of mmaps.values()) for (const a of areas) a.mapping.unmap();
      channel.destroy();
      throw clientErrorFrom(error, Command.Version);
    }
  }

  /** True after {@link close} or once the server went away. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The region info of `index`; throws `invalid-argument` for an index the device does not have. */
  region(index: number): RegionInfo {
    const r = this.regions[index];
    if (r === undefined) {
      throw new ClientError(
        'invalid-argument',
        `region ${index} does not exist (device has ${this.regions.length})`,
        {
          region: index,
        },
      );
    }
    return r;
  }

  /** True when `[offset, offset+length)` of region `index` is served from an mmap of the region. */
  isMmapped(index: number, offset: bigint | number, length: number): boolean {
    return this.#mmapFor(index, toBigInt(offset, 'offset'), length) !== undefined;
  }

  /** The largest data count of one REGION_READ/WRITE (the smaller of both sides' limits). */
  get maxTransferSize(): number {
    return Math.min(this.negotiated.maxSendDataXferSize, this.negotiated.maxRecvDataXferSize);
  }

  /**
   * Reads `length` bytes at `offset` of region `index`: from the mmap when the range lies in
   * an mmapped area, else with REGION_READ messages of at most {@link maxTransferSize} bytes.
   */
  async regionRead(index: number, offset: bigint | number, length: number): Promise<Uint8Array> {
    const off = this.#checkAccess(index, offset, length, 'read');
    const direct = this.#mmapFor(index, off, length);
    if (direct !== undefined) return direct.slice();
    const chunk = this.maxTransferSize;
    if (length <= chunk) return this.#readMessage(index, off, length);
    const out = new Uint8Array(length);
    for (let done = 0; done < length; done += chunk) {
      const n = Math.min(chunk, length - done);
      out.set(await this.#readMessage(index, off + BigInt(done), n), done);
    }
    return out;
  }

  /**
   * Writes `data` at `offset` of region `index` (mmap or REGION_WRITE messages). With `posted`
   * the messages go without reply (No_reply): ordering is kept by the server, errors are lost.
   */
  async regionWrite(
    index: number,
    offset: bigint | number,
    data: Uint8Array,
    options: { posted?: boolean } = {},
  ): Promise<void> {
    const off = this.#checkAccess(index, offset, data.length, 'write');
    const direct = this.#mmapFor(index, off, data.length);
    if (direct !== undefined) {
      direct.set(data);
      return;
    }
    const chunk = this.maxTransferSize;
    for (let done = 0; done < data.length || (done === 0 && data.length === 0); done += chunk) {
      const part = data.subarray(done, Math.min(data.length, done + chunk));
      await this.#writeMessage(index, off + BigInt(done), part, options.posted === true);
      if (data.length === 0) break;
    }
  }

  /**
   * Several small writes (≤ 8 bytes each) in REGION_WRITE_MULTI messages of up to 200 entries
   * when the server advertised `write_multiple`, else one REGION_WRITE each. Applied in order.
   */
  async regionWriteMulti(writes: readonly RegionWriteEntry[]): Promise<void> {
    const entries = writes.map((w) => {
      if (w.data.length === 0 || w.data.length > REGION_WRITE_MULTI_MAX_DATA) {
        throw new ClientError(
          'invalid-argument',
          `a multi-write entry holds 1..8 bytes, got ${w.data.length}`,
          {
            region: w.region,
          },
        );
      }
      return {
        region: w.region,
        offset: this.#checkAccess(w.region, w.offset, w.data.length, 'write'),
        data: w.data,
      };
    });
    if (!this.negotiated.writeMultiple) {
      for (const e of entries) await this.regionWrite(e.region, e.offset, e.data);
      return;
    }
    for (let i = 0; i < entries.length; i += WRITE_MULTI_MAX_ENTRIES) {
      const batch = entries.slice(i, i + WRITE_MULTI_MAX_ENTRIES);
      const payload = encodeRequestPayload(Command.RegionWriteMulti, { writes: batch });
      const reply = await this.#request(Command.RegionWriteMulti, payload);
      const body = decodeReply(Command.RegionWriteMulti, reply);
      if (body.wrCnt !== BigInt(batch.length)) {
        throw new ClientError(
          'bad-reply',
          `REGION_WRITE_MULTI completed ${body.wrCnt} of ${batch.length} writes`,
          {
            command: Command.RegionWriteMulti,
          },
        );
      }
    }
  }

  /** One 1-byte access at `offset` of region `index`. */
  async read8(index: number, offset: bigint | number): Promise<number> {
    return (await this.regionRead(index, offset, 1))[0] as number;
  }

  /** One 2-byte little-endian access. */
  async read16(index: number, offset: bigint | number): Promise<number> {
    const b = await this.regionRead(index, offset, 2);
    return new DataView(b.buffer, b.byteOffset, 2).getUint16(0, true);
  }

  /** One 4-byte little-endian access. */
  async read32(index: number, offset: bigint | number): Promise<number> {
    const b = await this.regionRead(index, offset, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  /** One 8-byte little-endian access. */
  async read64(index: number, offset: bigint | number): Promise<bigint> {
    const b = await this.regionRead(index, offset, 8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  /** One 1-byte write. */
  write8(index: number, offset: bigint | number, value: number): Promise<void> {
    return this.regionWrite(index, offset, Uint8Array.of(value & 0xff));
  }

  /** One 2-byte little-endian write. */
  write16(index: number, offset: bigint | number, value: number): Promise<void> {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value & 0xffff, true);
    return this.regionWrite(index, offset, b);
  }

  /** One 4-byte little-endian write. */
  write32(index: number, offset: bigint | number, value: number): Promise<void> {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    return this.regionWrite(index, offset, b);
  }

  /** One 8-byte little-endian write. */
  write64(index: number, offset: bigint | number, value: bigint): Promise<void> {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
    return this.regionWrite(index, offset, b);
  }

  /** DEVICE_RESET. Throws `not-supported` when the device did not report the RESET flag. */
  async reset(options: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.device.reset) {
      throw new ClientError('not-supported', 'the device does not support DEVICE_RESET', {
        command: Command.DeviceReset,
      });
    }
    const reply = await this.#request(
      Command.DeviceReset,
      undefined,
      options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
    );
    decodeReply(Command.DeviceReset, reply);
  }

  /** Allocates guest memory that this client closes in {@link close}. */
  allocateMemory(size: number, options: GuestMemoryOptions = {}): GuestMemory {
    this.#checkOpen(Command.DmaMap);
    const memory = GuestMemory.create(size, options);
    this.#ownedMemory.add(memory);
    return memory;
  }

  /** Current DMA mappings, sorted by IOVA. */
  get dmaMappings(): readonly DmaMapping[] {
    return this.#dma.mappings;
  }

  /**
   * Maps (part of) `memory` at DMA address `iova` for the device: DMA_MAP with the memfd (the
   * server maps it), or without (the server sends DMA_READ/DMA_WRITE, which this client serves).
   */
  async mapDma(memory: GuestMemory, iova: bigint | number, options: DmaMapOptions = {}): Promise<DmaMapping> {
    this.#checkOpen(Command.DmaMap);
    const addr = toBigInt(iova, 'iova');
    const memoryOffset = options.memoryOffset ?? 0;
    const size = options.size ?? memory.size - memoryOffset;
    const page = BigInt(lowestPageSize(this.negotiated.pgsizes));
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
    if (this.#dma.mappings.length >= this.negotiated.maxDmaMaps) {
      throw new ClientError(
        'not-supported',
        `the server accepts at most ${this.negotiated.maxDmaMaps} DMA mappings`,
        { command: Command.DmaMap },
      );
    }
    this.#dma.checkFree(addr, BigInt(size));
    const viaFd = !(options.viaMessages ?? !this.#options.passFds);
    if (viaFd && (!this.#options.passFds || this.negotiated.maxSendFds < 1)) {
      throw new ClientError(
        'not-supported',
        'fd passing is disabled for this session: map with viaMessages',
        {
          command: Command.DmaMap,
        },
      );
    }
    const flags = DmaMapFlags.Read | (options.readOnly === true ? 0 : DmaMapFlags.Write);
    const payload = encodeRequestPayload(Command.DmaMap, {
      argsz: 32,
      flags,
      offset: viaFd ? BigInt(memoryOffset) : 0n,
      addr,
      size: BigInt(size),
    });
    const reply = await this.#request(Command.DmaMap, payload, viaFd ? { fds: [memory.fd] } : {});
    decodeReply(Command.DmaMap, reply);
    const mapping: DmaMapping = {
      iova: addr,
      size: BigInt(size),
      memory,
      memoryOffset,
      readable: true,
      writable: options.readOnly !== true,
      viaFd,
    };
    this.#dma.add(mapping);
    return mapping;
  }

  /** DMA_UNMAP of one mapping made by {@link mapDma}; the server has stopped using it when this resolves. */
  async unmapDma(mapping: DmaMapping): Promise<void> {
    if (!this.#dma.mappings.includes(mapping)) {
      throw new ClientError('invalid-argument', `no DMA mapping at 0x${mapping.iova.toString(16)}`, {
        command: Command.DmaUnmap,
      });
    }
    const payload = encodeRequestPayload(Command.DmaUnmap, {
      argsz: 24,
      flags: 0,
      addr: mapping.iova,
      size: mapping.size,
    });
    decodeReply(Command.DmaUnmap, await this.#request(Command.DmaUnmap, payload));
    this.#dma.remove(mapping);
  }

  /** DMA_UNMAP with the ALL flag: every mapping goes. */
  async unmapAllDma(): Promise<void> {
    const payload = encodeRequestPayload(Command.DmaUnmap, {
      argsz: 24,
      flags: DmaUnmapFlags.All,
      addr: 0n,
      size: 0n,
    });
    decodeReply(Command.DmaUnmap, await this.#request(Command.DmaUnmap, payload));
    this.#dma.clear();
  }

  /**
   * Binds eventfds to vectors `start..start+count-1` of IRQ index `index` (SET_IRQS
   * DATA_EVENTFD|ACTION_TRIGGER, in runs of at most the server's `max_msg_fds`). Each signal is
   * emitted as `intx`/`msi`/`msix` and `irq` events. Default: every vector of the index.
   */
  async enableIrq(index: number, options: { start?: number; count?: number } = {}): Promise<void> {
    const irq = this.#irq(index);
    const start = options.start ?? 0;
    const count = options.count ?? irq.count - start;
    this.#checkVectors(irq, start, count);
    if (count === 0) return;
    if (!this.#options.passFds || this.negotiated.maxSendFds < 1) {
      throw new ClientError(
        'not-supported',
        'interrupts need eventfds, and fd passing is disabled for this session',
        {
          command: Command.DeviceSetIrqs,
          irqIndex: index,
        },
      );
    }
    const slots = this.#irqFds.get(index) ?? new Array<EventFd | undefined>(irq.count).fill(undefined);
    this.#irqFds.set(index, slots);
    const kind = KIND_BY_INDEX[index] ?? 'req';
    const created: EventFd[] = [];
    try {
      for (let v = start; v < start + count; v += this.negotiated.maxSendFds) {
        const n = Math.min(this.negotiated.maxSendFds, start + count - v);
        const fds: EventFd[] = [];
        for (let i = 0; i < n; i++) {
          const efd = EventFd.create();
          created.push(efd);
          fds.push(efd);
        }
        await this.#setIrqs({ action: 'trigger', dataType: 'eventfd', index, start: v, count: n }, fds);
        fds.forEach((efd, i) => {
          const vector = v + i;
          slots[vector]?.close();
          slots[vector] = efd;
          efd.onSignal((value) => this.#deliver(index, kind, vector, value));
          if (!this.#refed) efd.unref();
        });
      }
    } catch (error) {
      for (const efd of created) if (!slots.includes(efd)) efd.close();
      throw error;
    }
  }

  /** Disables every vector of IRQ index `index` (SET_IRQS DATA_NONE|TRIGGER, count 0) and closes its eventfds. */
  async disableIrq(index: number): Promise<void> {
    this.#irq(index);
    await this.#setIrqs({ action: 'trigger', dataType: 'none', index, start: 0, count: 0 });
    this.#closeIrqFds(index);
  }

  /** Masks vectors (SET_IRQS DATA_NONE|ACTION_MASK, or DATA_BOOL for a subset). */
  maskIrq(index: number, start = 0, count = 1, which?: readonly boolean[]): Promise<void> {
    return this.#maskOrUnmask('mask', index, start, count, which);
  }

  /** Unmasks vectors (e.g. INTx after handling, which is automasked). */
  unmaskIrq(index: number, start = 0, count = 1, which?: readonly boolean[]): Promise<void> {
    return this.#maskOrUnmask('unmask', index, start, count, which);
  }

  /**
   * Asks the server to fire vectors itself (SET_IRQS DATA_NONE|ACTION_TRIGGER, or DATA_BOOL
   * where `which` is true): a loopback test of interrupt delivery.
   */
  async triggerIrq(index: number, start = 0, count = 1, which?: readonly boolean[]): Promise<void> {
    const irq = this.#irq(index);
    this.#checkVectors(irq, start, count);
    if (count === 0)
      throw new ClientError('invalid-argument', 'triggering needs count >= 1', { irqIndex: index });
    await this.#setIrqsWithData('trigger', index, start, count, which);
  }

  /**
   * Interrupts as an async iterator (each `irq` event), until the client closes or `signal`
   * aborts. Events are buffered while the consumer is busy.
   */
  interrupts(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<InterruptEvent> {
    const queue: InterruptEvent[] = [];
    let wake: (() => void) | undefined;
    let done = this.#closed;
    const onIrq = (e: InterruptEvent) => {
      queue.push(e);
      wake?.();
    };
    const finish = () => {
      done = true;
      this.off('irq', onIrq);
      this.off('disconnect', finish);
      options.signal?.removeEventListener('abort', finish);
      wake?.();
    };
    this.on('irq', onIrq);
    this.on('disconnect', finish);
    options.signal?.addEventListener('abort', finish, { once: true });
    if (options.signal?.aborted) finish();
    const iterator: AsyncIterableIterator<InterruptEvent> = {
      next: async () => {
        while (queue.length === 0 && !done) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
        const value = queue.shift();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
      return: async () => {
        finish();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Lets the process exit while the client is connected (and its eventfds are watched). */
  unref(): void {
    this.#refed = false;
    this.#channel.unref();
    for (const slots of this.#irqFds.values()) for (const efd of slots) efd?.unref();
  }

  /** Undoes {@link unref}. */
  ref(): void {
    this.#refed = true;
    this.#channel.ref();
    for (const slots of this.#irqFds.values()) for (const efd of slots) efd?.ref();
  }

  /**
   * Closes the connection: outstanding requests fail with `closed`, mmaps are unmapped, eventfds
   * and the guest memory allocated with {@link allocateMemory} are closed. The server forgets
   * DMA mappings and eventfds of a client that leaves. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#channel.close();
    this.#teardown();
  }

  // ---- internals -----------------------------------------------------------------------------

  #teardown(): void {
    this.#closed = true;
    for (const areas of this.#mmapAreas.values()) for (const a of areas) a.mapping.unmap();
    this.#mmapAreas.clear();
    for (const index of [...this.#irqFds.keys()]) this.#closeIrqFds(index);
    this.#dma.clear();
    for (const m of this.#ownedMemory) m.close();
    this.#ownedMemory.clear();
  }

  #closeIrqFds(index: number): void {
    const slots = this.#irqFds.get(index);
    if (slots === undefined) return;
    for (const efd of slots) {
      efd?.onSignal(null);
      efd?.close();
    }
    this.#irqFds.delete(index);
  }

  #deliver(index: number, kind: InterruptKind, vector: number, count: bigint): void {
    if (kind === 'intx') this.emit('intx');
    else if (kind === 'msi') this.emit('msi', vector);
    else if (kind === 'msix') this.emit('msix', vector);
    this.emit('irq', { index, kind, vector, count });
  }

  #irq(index: number): IrqInfo {
    const irq = this.irqs[index];
    if (irq === undefined) {
      throw new ClientError(
        'not-supported',
        `IRQ index ${index} does not exist (device has ${this.irqs.length})`,
        {
          command: Command.DeviceSetIrqs,
          irqIndex: index,
        },
      );
    }
    return irq;
  }

  #checkVectors(irq: IrqInfo, start: number, count: number): void {
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(count) ||
      start < 0 ||
      count < 0 ||
      start + count > irq.count
    ) {
      throw new ClientError(
        'out-of-range',
        `vectors ${start}..${start + count - 1} outside ${irq.name}'s ${irq.count}`,
        { command: Command.DeviceSetIrqs, irqIndex: irq.index },
      );
    }
  }

  async #maskOrUnmask(
    action: 'mask' | 'unmask',
    index: number,
    start: number,
    count: number,
    which?: readonly boolean[],
  ): Promise<void> {
    const irq = this.#irq(index);
    this.#checkVectors(irq, start, count);
    if (count === 0)
      throw new ClientError('invalid-argument', `${action} needs count >= 1`, { irqIndex: index });
    await this.#setIrqsWithData(action, index, start, count, which);
  }

  async #setIrqsWithData(
    action: 'mask' | 'unmask' | 'trigger',
    index: number,
    start: number,
    count: number,
    which?: readonly boolean[],
  ): Promise<void> {
    if (which === undefined) {
      await this.#setIrqs({ action, dataType: 'none', index, start, count });
      return;
    }
    if (which.length !== count) {
      throw new ClientError('invalid-argument', `${count} vectors but ${which.length} booleans`, {
        irqIndex: index,
      });
    }
    await this.#setIrqs({
      action,
      dataType: 'bool',
      index,
      start,
      count,
      data: Uint8Array.from(which, (b) => (b ? 1 : 0)),
    });
  }

  async #setIrqs(
    body: {
      action: 'mask' | 'unmask' | 'trigger';
      dataType: 'none' | 'bool' | 'eventfd';
      index: number;
      start: number;
      count: number;
      data?: Uint8Array;
    },
    fds: readonly EventFd[] = [],
  ): Promise<void> {
    const argsz = 20 + (body.data?.length ?? 0);
    const payload = encodeRequestPayload(Command.DeviceSetIrqs, { argsz, ...body });
    const reply = await this.#request(
      Command.DeviceSetIrqs,
      payload,
      fds.length > 0 ? { fds } : {},
      body.index,
    );
    decodeReply(Command.DeviceSetIrqs, reply);
  }

  #checkOpen(command: number): void {
    if (this.#closed) throw new ClientError('closed', 'the client is closed', { command });
  }

  #checkAccess(index: number, offset: bigint | number, length: number, what: 'read' | 'write'): bigint {
    this.#checkOpen(what === 'read' ? Command.RegionRead : Command.RegionWrite);
    const region = this.region(index);
    const off = toBigInt(offset, 'offset');
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new ClientError('invalid-argument', `length must be a non-negative integer, got ${length}`, {
        region: index,
      });
    }
    if (off + BigInt(length) > region.size) {
      throw new ClientError(
        'out-of-range',
        `${what} 0x${off.toString(16)}+0x${length.toString(16)} outside ${region.name} (size 0x${region.size.toString(16)})`,
        { region: index, command: what === 'read' ? Command.RegionRead : Command.RegionWrite },
      );
    }
    return off;
  }

  #mmapFor(index: number, offset: bigint, length: number): Uint8Array | undefined {
    const areas = this.#mmapAreas.get(index);
    if (areas === undefined || length === 0) return undefined;
    for (const a of areas) {
      if (offset >= a.offset && offset + BigInt(length) <= a.offset + a.size) {
        const start = Number(offset - a.offset);
        return a.mapping.bytes(start, start + length);
      }
    }
    return undefined;
  }

  async #readMessage(index: number, offset: bigint, count: number): Promise<Uint8Array> {
    const req = { offset, region: index, count };
    const reply = await this.#request(Command.RegionRead, encodeRequestPayload(Command.RegionRead, req));
    return regionReadData(req, decodeReply(Command.RegionRead, reply, this.#options.maxDataXferSize));
  }

  async #writeMessage(index: number, offset: bigint, data: Uint8Array, posted: boolean): Promise<void> {
    const req = { offset, region: index, count: data.length, data };
    const payload = encodeRequestPayload(Command.RegionWrite, req);
    if (posted) {
      try {
        await this.#channel.post(Command.RegionWrite, payload);
      } catch (error) {
        throw clientErrorFrom(error, Command.RegionWrite);
      }
      return;
    }
    const reply = await this.#request(Command.RegionWrite, payload);
    checkRegionWriteReply(req, decodeReply(Command.RegionWrite, reply));
  }

  async #request(
    command: Command,
    payload: Uint8Array | undefined,
    options: { fds?: readonly (OwnedFd | EventFd)[]; timeoutMs?: number } = {},
    irqIndex?: number,
  ): Promise<ChannelMessage> {
    this.#checkOpen(command);
    try {
      return await request(this.#channel, command, payload, options);
    } catch (error) {
      const e = clientErrorFrom(error, command);
      if (irqIndex !== undefined && e.irqIndex === undefined) {
        Object.defineProperty(e, 'irqIndex', { value: irqIndex });
      }
      throw e;
    }
  }

  /** Serves the server's DMA_READ / DMA_WRITE against the DMA space; other commands get ENOSYS. */
  #serve(request: ChannelMessage): { payload: Uint8Array } {
    const message = decodeMessage(request, {
      role: 'client',
      maxDataXferSize: this.#options.maxDataXferSize,
    });
    if (message.kind !== 'request') {
      // decodeMessage only returns requests for command headers; kept for the type checker.
      throw new ClientError('bad-reply', 'expected a command');
    }
    if (message.command === Command.DmaRead) {
      const { address, count } = message.body;
      const data = this.#dma.read(address, count);
      const bytes = encodeMessage({
        kind: 'reply',
        command: Command.DmaRead,
        msgId: message.msgId,
        body: { address, count, data },
      });
      return { payload: bytes.subarray(HEADER_SIZE) };
    }
    if (message.command === Command.DmaWrite) {
      const { address, count, data } = message.body;
      this.#dma.write(address, data);
      const bytes = encodeMessage({
        kind: 'reply',
        command: Command.DmaWrite,
        msgId: message.msgId,
        body: { address, count },
      });
      return { payload: bytes.subarray(HEADER_SIZE) };
    }
    // decodeMessage with role 'client' already refused everything else with ENOSYS.
    throw new ClientError('not-supported', `unexpected ${message.command}`, { errno: 38 });
  }
}

/** The lowest page size of a `pgsizes` mask (4096 when empty). */
function lowestPageSize(pgsizes: number): number {
  for (let bit = 12; bit < 48; bit++) if (pgsizes & (2 ** bit)) return 2 ** bit;
  return 4096;
}

async function request(
  channel: Channel,
  command: Command,
  payload: Uint8Array | undefined,
  options: { fds?: readonly (OwnedFd | EventFd)[]; timeoutMs?: number; acceptFds?: number } = {},
): Promise<ChannelMessage> {
  return channel.request(command, payload, options);
}

/** REGION_INFO with the retry libvfio-user needs when the capabilities do not fit our argsz. */
async function queryRegion(
  channel: Channel,
  index: number,
): Promise<{ info: RegionInfo; fd: OwnedFd | undefined }> {
  let argsz = REGION_INFO_ARGSZ;
  for (let attempt = 0; attempt < 2; attempt++) {
    let reply: ChannelMessage;
    try {
      reply = await request(
        channel,
        Command.DeviceGetRegionInfo,
        encodeRequestPayload(Command.DeviceGetRegionInfo, { argsz, index }),
        {
          acceptFds: 1,
        },
      );
    } catch (error) {
      const e = clientErrorFrom(error, Command.DeviceGetRegionInfo);
      // A server may refuse a region it does not implement (VGA, ROM): it is then absent.
      if (e.code === 'error-reply') return { info: absentRegion(index), fd: undefined };
      throw e;
    }
    const fds = reply.takeFds();
    let body: ReturnType<typeof decodeReply<Command.DeviceGetRegionInfo>>;
    try {
      body = decodeReply(Command.DeviceGetRegionInfo, reply);
      if (body.index !== index) {
        throw new ClientError(
          'bad-reply',
          `DEVICE_GET_REGION_INFO for region ${index} answered region ${body.index}`,
          {
            command: Command.DeviceGetRegionInfo,
            region: index,
          },
        );
      }
    } catch (error) {
      for (const fd of fds) fd.close();
      throw error;
    }
    if (regionInfoNeedsRetry(body, argsz) && attempt === 0 && body.argsz <= 64 * 1024) {
      for (const fd of fds) fd.close();
      argsz = body.argsz;
      continue;
    }
    return { info: regionInfoFromReply(body, fds.length), fd: fds[0] };
  }
  throw new ClientError('bad-reply', `DEVICE_GET_REGION_INFO for region ${index} kept growing argsz`, {
    command: Command.DeviceGetRegionInfo,
    region: index,
  });
}

function absentRegion(index: number): RegionInfo {
  return regionInfoFromReply({ argsz: 32, flags: 0, index, size: 0n, offset: 0n, capabilities: [] }, 0);
}

/** mmaps the areas of a region that the server offered; areas that cannot be mapped stay on messages. */
function mapRegion(info: RegionInfo, fd: OwnedFd): MmapArea[] {
  const areas: MmapArea[] = [];
  for (const a of info.mmapAreas) {
    const fileOffset = info.offset + a.offset;
    if (fileOffset > BigInt(Number.MAX_SAFE_INTEGER) || a.size > BigInt(Number.MAX_SAFE_INTEGER)) continue;
    try {
      const mapping = MappedRegion.map(fd, {
        offset: Number(fileOffset),
        length: Number(a.size),
        mode: 'shared',
      });
      areas.push({ offset: a.offset, size: a.size, mapping });
    } catch {
      // Unaligned or out-of-file areas are served by REGION_READ/WRITE instead.
    }
  }
  return areas;
}
