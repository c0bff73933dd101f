import { EventEmitter } from 'node:events';
import {
  CAPABILITY_DEFAULTS,
  Command,
  type NegotiatedCapabilities,
  type VersionCapabilities,
} from '@vfu/protocol';
import { type Channel, connect as connectChannel, isTransportError, type MessageTap } from '@vfu/transport';
import { ClientDma, type DmaMapOptions } from './client-dma';
import type { DmaMapping } from './dma-space';
import { ClientError } from './errors';
import type { GuestMemory, GuestMemoryOptions } from './guest-memory';
import { handshake } from './handshake';
import { type InterruptKind, Interrupts } from './interrupts';
import { ClientLink, clientErrorFrom } from './link';
import { RegionIo, type RegionWriteEntry } from './region-io';
import type { DeviceInfo, IrqInfo, RegionInfo } from './replies';

export type { DmaMapOptions } from './client-dma';
export type { InterruptKind } from './interrupts';
export { clientErrorFrom } from './link';
export type { RegionWriteEntry } from './region-io';

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
  /** Sees every message of the connection as raw bytes (`--trace-file` captures). */
  tap?: MessageTap;
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

/** Default of {@link ClientOptions.maxMsgFds}. */
const DEFAULT_MAX_MSG_FDS = 16;
/** Bounds of {@link ClientOptions.maxDataXferSize}: an 8-byte access, and 64 MiB. */
const MIN_XFER = 8;
const MAX_XFER = 64 << 20;

/**
 * A vfio-user client (the VMM side): negotiates VERSION, enumerates the device's regions and
 * IRQs, reads and writes regions (through mmap where the server offers it), maps guest memory for
 * DMA (by fd, or by serving the server's DMA_READ/DMA_WRITE messages), binds interrupts to
 * eventfds and resets the device. Create with {@link VfioUserClient.connect}.
 *
 * The work is done by four parts behind this facade: the handshake (`handshake.ts`), region
 * I/O (`region-io.ts`), DMA (`client-dma.ts`) and interrupts (`interrupts.ts`), all sending
 * typed requests through one {@link ClientLink}.
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
  readonly #link: ClientLink;
  readonly #io: RegionIo;
  readonly #dma: ClientDma;
  readonly #interrupts: Interrupts;
  #closed = false;

  private constructor(
    channel: Channel,
    link: ClientLink,
    init: Awaited<ReturnType<typeof handshake>>,
    passFds: boolean,
    maxDataXferSize: number,
  ) {
    super();
    this.#channel = channel;
    this.#link = link;
    this.version = init.version;
    this.serverCapabilities = init.serverCapabilities;
    this.negotiated = init.negotiated;
    this.device = init.device;
    this.regions = init.regions;
    this.irqs = init.irqs;
    this.#io = new RegionIo(link, init.regions, init.negotiated, init.mmapAreas);
    this.#dma = new ClientDma(link, init.negotiated, passFds, maxDataXferSize);
    this.#interrupts = new Interrupts(
      link,
      init.irqs,
      init.negotiated,
      passFds,
      (index, kind, vector, count) => this.#deliver(index, kind, vector, count),
    );
    channel.onRequest((request) => this.#dma.serve(request));
    channel.on('warning', (error) => {
      this.emit('warning', new ClientError('bad-reply', error.message, { cause: error }));
    });
    channel.on('close', (error) => {
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
    if (options.tap !== undefined) channel.setTap(options.tap);
    const maxDataXferSize = options.maxDataXferSize ?? CAPABILITY_DEFAULTS.maxDataXferSize;
    const maxMsgFds = options.maxMsgFds ?? DEFAULT_MAX_MSG_FDS;
    if (!Number.isSafeInteger(maxDataXferSize) || maxDataXferSize < MIN_XFER || maxDataXferSize > MAX_XFER) {
      channel.destroy();
      throw new ClientError('invalid-argument', `maxDataXferSize must be 8..64 MiB, got ${maxDataXferSize}`);
    }
    if (!Number.isSafeInteger(maxMsgFds) || maxMsgFds < 1 || maxMsgFds > 1024) {
      channel.destroy();
      throw new ClientError('invalid-argument', `maxMsgFds must be 1..1024, got ${maxMsgFds}`);
    }
    let client: VfioUserClient | undefined;
    const link = new ClientLink(channel, maxDataXferSize, () => client?.closed ?? false);
    let init: Awaited<ReturnType<typeof handshake>>;
    try {
      init = await handshake(link, { maxDataXferSize, maxMsgFds, mmap: options.mmap !== false });
    } catch (error) {
      channel.destroy();
      throw error;
    }
    client = new VfioUserClient(channel, link, init, options.passFds ?? true, maxDataXferSize);
    return client;
  }

  /** True after {@link close} or once the server went away. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The region info of `index`; throws `invalid-argument` for an index the device does not have. */
  region(index: number): RegionInfo {
    return this.#io.region(index);
  }

  /** True when `[offset, offset+length)` of region `index` is served from an mmap of the region. */
  isMmapped(index: number, offset: bigint | number, length: number): boolean {
    return this.#io.isMmapped(index, offset, length);
  }

  /** The largest data count of one REGION_READ/WRITE (the smaller of both sides' limits). */
  get maxTransferSize(): number {
    return this.#io.maxTransferSize;
  }

  /**
   * Reads `length` bytes at `offset` of region `index`: from the mmap when the range lies in
   * an mmapped area, else with REGION_READ messages of at most {@link maxTransferSize} bytes.
   */
  regionRead(index: number, offset: bigint | number, length: number): Promise<Uint8Array> {
    return this.#io.read(index, offset, length);
  }

  /**
   * Writes `data` at `offset` of region `index` (mmap or REGION_WRITE messages). With `posted`
   * the messages go without reply (No_reply): ordering is kept by the server, errors are lost.
   */
  regionWrite(
    index: number,
    offset: bigint | number,
    data: Uint8Array,
    options: { posted?: boolean } = {},
  ): Promise<void> {
    return this.#io.write(index, offset, data, options.posted === true);
  }

  /**
   * Several small writes (≤ 8 bytes each) in REGION_WRITE_MULTI messages of up to 200 entries
   * when the server advertised `write_multiple`, else one REGION_WRITE each. Applied in order.
   */
  regionWriteMulti(writes: readonly RegionWriteEntry[]): Promise<void> {
    return this.#io.writeMulti(writes);
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
    await this.#link.call(
      Command.DeviceReset,
      {},
      options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
    );
  }

  /** Allocates guest memory that this client closes in {@link close}. */
  allocateMemory(size: number, options: GuestMemoryOptions = {}): GuestMemory {
    return this.#dma.allocateMemory(size, options);
  }

  /** Current DMA mappings, sorted by IOVA. */
  get dmaMappings(): readonly DmaMapping[] {
    return this.#dma.mappings;
  }

  /**
   * Maps (part of) `memory` at DMA address `iova` for the device: DMA_MAP with the memfd (the
   * server maps it), or without (the server sends DMA_READ/DMA_WRITE, which this client serves).
   */
  mapDma(memory: GuestMemory, iova: bigint | number, options: DmaMapOptions = {}): Promise<DmaMapping> {
    return this.#dma.map(memory, iova, options);
  }

  /** DMA_UNMAP of one mapping made by {@link mapDma}; the server has stopped using it when this resolves. */
  unmapDma(mapping: DmaMapping): Promise<void> {
    return this.#dma.unmap(mapping);
  }

  /** DMA_UNMAP with the ALL flag: every mapping goes. */
  unmapAllDma(): Promise<void> {
    return this.#dma.unmapAll();
  }

  /**
   * Binds eventfds to vectors `start..start+count-1` of IRQ index `index` (SET_IRQS
   * DATA_EVENTFD|ACTION_TRIGGER, in runs of at most the server's `max_msg_fds`). Each signal is
   * emitted as `intx`/`msi`/`msix` and `irq` events. Default: every vector of the index.
   */
  enableIrq(index: number, options: { start?: number; count?: number } = {}): Promise<void> {
    return this.#interrupts.enable(index, options);
  }

  /** Disables every vector of IRQ index `index` (SET_IRQS DATA_NONE|TRIGGER, count 0) and closes its eventfds. */
  disableIrq(index: number): Promise<void> {
    return this.#interrupts.disable(index);
  }

  /** Masks vectors (SET_IRQS DATA_NONE|ACTION_MASK, or DATA_BOOL for a subset). */
  maskIrq(index: number, start = 0, count = 1, which?: readonly boolean[]): Promise<void> {
    return this.#interrupts.maskOrUnmask('mask', index, start, count, which);
  }

  /** Unmasks vectors (e.g. INTx after handling, which is automasked). */
  unmaskIrq(index: number, start = 0, count = 1, which?: readonly boolean[]): Promise<void> {
    return this.#interrupts.maskOrUnmask('unmask', index, start, count, which);
  }

  /**
   * Asks the server to fire vectors itself (SET_IRQS DATA_NONE|ACTION_TRIGGER, or DATA_BOOL
   * where `which` is true): a loopback test of interrupt delivery.
   */
  triggerIrq(index: number, start = 0, count = 1, which?: readonly boolean[]): Promise<void> {
    return this.#interrupts.trigger(index, start, count, which);
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
    this.#channel.unref();
    this.#interrupts.unref();
  }

  /** Undoes {@link unref}. */
  ref(): void {
    this.#channel.ref();
    this.#interrupts.ref();
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

  #teardown(): void {
    this.#closed = true;
    this.#io.unmapAll();
    this.#interrupts.closeAll();
    this.#dma.teardown();
  }

  #deliver(index: number, kind: InterruptKind, vector: number, count: bigint): void {
    if (kind === 'intx') this.emit('intx');
    else if (kind === 'msi') this.emit('msi', vector);
    else if (kind === 'msix') this.emit('msix', vector);
    this.emit('irq', { index, kind, vector, count });
  }
}
