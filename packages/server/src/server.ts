/**
 * VfioUserServer: one vfio-user endpoint. It creates a PCI root bus of its own in the given
 * DeviceTree (the isolation unit: private memory, IO and DMA spaces), listens on a UNIX socket and
 * serves the device placed on that bus to one client at a time.
 */
import { EventEmitter } from 'node:events';
import { type DeviceTree, isQdevError, type PciDevice, PciRootBus } from '@vfu/pci';
import { CAPABILITY_DEFAULTS, Errno, type VersionOffer } from '@vfu/protocol';
import { CHANNEL_DEFAULTS, type Channel, type Listener, listen, type MessageTap } from '@vfu/transport';
import type { ServerConnection } from './connection';
import { type ConnectionBudget, RateLimitedWarning } from './connection-budget';
import type { DmaMapping } from './dma';
import { ServerError } from './errors';
import { IrqController, type IrqIndexSnapshot } from './irqs';
import type { RegionFdResolver } from './regions';
import { Session, type SessionHost } from './session';
import { type ServerLogger, type ServerStats, silentLogger, type TraceEvent } from './types';

/** Limits the endpoint advertises in VERSION. */
export interface ServerLimits {
  /** Largest data count per REGION_READ/WRITE we accept (default 1 MiB; at most 64 MiB). */
  maxDataXferSize?: number;
  /** Most fds we accept per message (default 8, as libvfio-user; 0-1024). */
  maxMsgFds?: number;
  /** Most simultaneous DMA mappings (default 65535). */
  maxDmaMaps?: number;
}

/**
 * What one client can make the endpoint hold, and for how long it may stall. A client that
 * crosses a cap is disconnected with a log line saying which (a message whose fds cross
 * `maxHeldFds` is refused with EMFILE instead); the endpoint then serves the next client.
 */
export interface ConnectionCaps {
  /** A client must complete VERSION within this many ms of connecting (default 10000; 0 = never). */
  handshakeTimeoutMs?: number;
  /**
   * A message whose first bytes arrived must be complete within this many ms (default 10000;
   * 0 = never): half a header and a stall cannot hold the endpoint.
   */
  messageTimeoutMs?: number;
  /** Bytes of replies queued for a client that does not read them (default 64 MiB). */
  maxQueuedReplyBytes?: number;
  /** Replies queued for a client that does not read them (default 4096). */
  maxQueuedReplies?: number;
  /** Received fds held for messages not yet handled (default 256). */
  maxHeldFds?: number;
  /**
   * Connections refused while a client is served that are held to receive their EBUSY reply
   * (default 8). Beyond it (or beyond the shared `connectionBudget`) they are closed at once.
   */
  maxPendingConnections?: number;
  /** Bytes a client may have mapped with DMA_MAP at once (default 2^52; ENOSPC beyond). */
  maxDmaBytes?: number;
}

/** The defaults of {@link ConnectionCaps}. */
export const CONNECTION_CAPS_DEFAULTS: Readonly<Required<ConnectionCaps>> = Object.freeze({
  handshakeTimeoutMs: 10_000,
  messageTimeoutMs: CHANNEL_DEFAULTS.messageTimeoutMs,
  maxQueuedReplyBytes: CHANNEL_DEFAULTS.maxWriteQueueBytes,
  maxQueuedReplies: CHANNEL_DEFAULTS.maxWriteQueueMessages,
  maxHeldFds: CHANNEL_DEFAULTS.maxHeldFds,
  maxPendingConnections: 8,
  maxDmaBytes: 2 ** 52,
});

/** Options of a {@link VfioUserServer}. */
export interface VfioUserServerOptions {
  /** Endpoint id, also the id of the root bus it creates (e.g. `s0`). */
  id: string;
  /** UNIX socket path `start()` listens on. */
  socketPath: string;
  /** Where the root bus is added; devices are plugged with `tree.deviceAdd({ ..., bus: id })`. */
  tree: DeviceTree;
  /** Mode of the socket file (default 0o600). */
  socketMode?: number;
  logger?: ServerLogger;
  /** Called for every message received or sent (`--trace`). */
  onTrace?: (e: TraceEvent) => void;
  /**
   * Asked once per client connection (numbered from 1 in this endpoint) for a tap that sees every
   * message of it as raw bytes (`--trace-file` captures); undefined: that connection is not tapped.
   */
  tapConnection?: (connection: number) => MessageTap | undefined;
  limits?: ServerLimits;
  /** Timeout of each DMA_READ/DMA_WRITE sent to the client, in ms (default 5000; 0 = none). */
  requestTimeoutMs?: number;
  /**
   * Warm-reset the device when a client disconnects (default true). The spec keeps device state
   * for a reconnecting client; the default prefers that the next client (possibly another VM)
   * never inherits BARs, bus mastering or DMA in progress aimed at memory that is gone.
   */
  resetOnDisconnect?: boolean;
  /**
   * Finds the shared-memory file behind a RAM region of a BAR, so REGION_INFO can offer it as a
   * sparse mmap area with the fd. Without it (or for regions it does not know) BARs are trapped.
   */
  resolveRegionFd?: RegionFdResolver;
  /**
   * Refuse DMA_MAP fds not sealed with F_SEAL_SHRINK (EPERM). A client that truncates a file this
   * process has mapped makes the next device access to it kill the process (SIGBUS), so an endpoint
   * serving untrusted clients should set this; QEMU's memfd backends are sealed by default.
   * Default false: unsealed fds are mapped, with a warning.
   */
  requireSealedDmaFds?: boolean;
  /**
   * Per-client caps and timeouts. They apply to clients accepted by `start()`; a connection
   * handed to `attach()` keeps its own channel options (the handshake timeout still applies).
   */
  connectionCaps?: ConnectionCaps;
  /** Refused connections held across endpoints: share one between the endpoints of a process. */
  connectionBudget?: ConnectionBudget;
}

/** Events of a {@link VfioUserServer}. */
export type VfioUserServerEvent = 'client-connected' | 'client-disconnected';

const MAX_XFER = 64 * 1024 * 1024;
/** How long a refused second client may keep its connection before it is closed. */
const REFUSE_GRACE_MS = 2000;

/** A vfio-user endpoint serving the PCI device on its own root bus. */
export class VfioUserServer {
  readonly id: string;
  readonly socketPath: string;
  /** The endpoint's root bus (in `tree` from construction until `close()`). */
  readonly bus: PciRootBus;
  readonly #tree: DeviceTree;
  readonly #logger: ServerLogger;
  readonly #onTrace: ((e: TraceEvent) => void) | undefined;
  readonly #socketMode: number;
  readonly #offer: VersionOffer;
  readonly #requestTimeoutMs: number;
  readonly #resetOnDisconnect: boolean;
  readonly #resolveRegionFd: RegionFdResolver | undefined;
  readonly #requireSealedDmaFds: boolean;
  readonly #caps: Readonly<Required<ConnectionCaps>>;
  readonly #tapConnection: ((connection: number) => MessageTap | undefined) | undefined;
  #connections = 0;
  readonly #events = new EventEmitter();
  readonly #irqs: IrqController;
  readonly #stats: ServerStats = { messagesIn: 0, messagesOut: 0, dmaRegions: 0, errorsReplied: 0 };
  readonly #refused = new Set<ServerConnection>();
  readonly #budget: ConnectionBudget | undefined;
  readonly #refusalWarning = new RateLimitedWarning();
  #refusedTotal = 0;
  #listener: Listener | undefined;
  #session: Session | undefined;
  #closed = false;

  /** Creates the root bus `opts.id` and adds it to `opts.tree` (throws `bus-id-taken` if used). */
  constructor(opts: VfioUserServerOptions) {
    if (typeof opts !== 'object' || opts === null) throw invalid('options must be an object');
    if (typeof opts.id !== 'string' || opts.id.length === 0) throw invalid('id must be a non-empty string');
    if (typeof opts.socketPath !== 'string' || opts.socketPath.length === 0) {
      throw invalid('socketPath must be a non-empty string');
    }
    if (typeof opts.tree?.findBus !== 'function') throw invalid('tree must be a DeviceTree');
    this.id = opts.id;
    this.socketPath = opts.socketPath;
    this.#tree = opts.tree;
    this.#logger = opts.logger ?? silentLogger;
    this.#onTrace = opts.onTrace;
    this.#socketMode = opts.socketMode ?? 0o600;
    this.#requestTimeoutMs = checkInt(opts.requestTimeoutMs ?? 5000, 'requestTimeoutMs', 0, 2 ** 31 - 1);
    this.#resetOnDisconnect = opts.resetOnDisconnect ?? true;
    this.#resolveRegionFd = opts.resolveRegionFd;
    this.#requireSealedDmaFds = opts.requireSealedDmaFds ?? false;
    this.#caps = checkCaps(opts.connectionCaps ?? {});
    this.#budget = opts.connectionBudget;
    this.#tapConnection = opts.tapConnection;
    const limits = opts.limits ?? {};
    this.#offer = {
      major: 0,
      minor: 2,
      capabilities: {
        maxMsgFds: checkInt(limits.maxMsgFds ?? 8, 'limits.maxMsgFds', 0, 1024),
        maxDataXferSize: checkInt(
          limits.maxDataXferSize ?? CAPABILITY_DEFAULTS.maxDataXferSize,
          'limits.maxDataXferSize',
          1,
          MAX_XFER,
        ),
        maxDmaMaps: checkInt(
          limits.maxDmaMaps ?? CAPABILITY_DEFAULTS.maxDmaMaps,
          'limits.maxDmaMaps',
          1,
          65535,
        ),
        pgsizes: 4096,
        writeMultiple: true,
      },
    };
    if (this.#tree.findBus(this.id) !== undefined) {
      throw new ServerError('bus-id-taken', `a bus with id '${this.id}' already exists`, {
        endpoint: this.id,
      });
    }
    const self = this;
    this.#irqs = new IrqController({
      get device() {
        return self.device;
      },
      warn: (message, ctx) => this.#logger.warn(message, { endpoint: this.id, ...ctx }),
    });
    try {
      this.bus = new PciRootBus({ id: this.id, interruptSink: this.#irqs.sink });
      this.#tree.addRootBus(this.bus);
    } catch (e) {
      if (isQdevError(e) && e.code === 'duplicate-bus') {
        throw new ServerError('bus-id-taken', e.message, { endpoint: this.id, cause: e });
      }
      throw invalid(`cannot create root bus '${this.id}': ${(e as Error).message}`, e);
    }
  }

  /** The served device: the function at devfn 0 of the bus, or the only device on it. */
  get device(): PciDevice | undefined {
    const at0 = this.bus.deviceAt(0);
    if (at0 !== undefined) return at0 as PciDevice;
    const all = this.bus.functions;
    return all.length === 1 ? (all[0] as PciDevice) : undefined;
  }

  /** A client is connected and being served. */
  get connected(): boolean {
    return this.#session !== undefined;
  }

  /** Whether `start()` is listening. */
  get listening(): boolean {
    return this.#listener !== undefined && !this.#listener.closed;
  }

  /** The current client's DMA mappings (empty without a client). */
  get dmaMappings(): readonly DmaMapping[] {
    return this.#session?.dma?.mappings ?? [];
  }

  /** Interrupt state of one vfio IRQ index (triggers assigned, masks, pending), for introspection. */
  irqState(index: number): IrqIndexSnapshot {
    if (!Number.isInteger(index) || index < 0 || index > 4) throw invalid(`IRQ index ${index} must be 0-4`);
    return this.#irqs.snapshot(index);
  }

  /**
   * Signals an interrupt to the client outside the PCI model: ERR (index 3) or REQ (index 4)
   * typically. Recorded as pending while the client has no trigger for it.
   */
  raiseIrq(index: number, subIndex = 0): void {
    if (!Number.isInteger(index) || index < 0 || index > 4) throw invalid(`IRQ index ${index} must be 0-4`);
    if (!Number.isInteger(subIndex) || subIndex < 0 || subIndex >= this.#irqs.count(index)) {
      throw invalid(`sub-index ${subIndex} is beyond the ${this.#irqs.count(index)} of IRQ index ${index}`);
    }
    this.#irqs.raise(index, subIndex);
  }

  /** Refused connections held now (waiting for their EBUSY reply), and refused since creation. */
  get refusedConnections(): { pending: number; total: number } {
    return { pending: this.#refused.size, total: this.#refusedTotal };
  }

  /** The effective connection caps. */
  get connectionCaps(): Readonly<Required<ConnectionCaps>> {
    return this.#caps;
  }

  /** Counters since creation. */
  stats(): ServerStats {
    return { ...this.#stats };
  }

  /** Subscribes to `client-connected` / `client-disconnected`. */
  on(event: VfioUserServerEvent, fn: () => void): this {
    this.#events.on(event, fn);
    return this;
  }

  /** Unsubscribes. */
  off(event: VfioUserServerEvent, fn: () => void): this {
    this.#events.off(event, fn);
    return this;
  }

  /**
   * Listens on `socketPath`. A stale socket file is replaced; a live one (another server) or a
   * non-socket file fails with `socket-in-use`.
   */
  async start(): Promise<void> {
    if (this.#closed) throw new ServerError('closed', `endpoint ${this.id} is closed`, { endpoint: this.id });
    if (this.#listener !== undefined) {
      throw new ServerError('already-started', `endpoint ${this.id} already listens`, { endpoint: this.id });
    }
    try {
      const caps = this.#caps;
      this.#listener = listen(this.socketPath, {
        mode: this.#socketMode,
        requestTimeoutMs: this.#requestTimeoutMs,
        messageTimeoutMs: caps.messageTimeoutMs,
        maxWriteQueueBytes: caps.maxQueuedReplyBytes,
        maxWriteQueueMessages: caps.maxQueuedReplies,
        maxHeldFds: caps.maxHeldFds,
      });
    } catch (e) {
      const inUse = (e as { code?: unknown }).code === 'ADDRESS_IN_USE';
      throw new ServerError(
        inUse ? 'socket-in-use' : 'listen-failed',
        `endpoint ${this.id}: ${(e as Error).message}`,
        { endpoint: this.id, socketPath: this.socketPath, cause: e },
      );
    }
    this.#listener.on('channel', (channel: Channel) => this.attach(channel));
    this.#listener.on('warning', (w) => this.#logger.warn(w.message, { endpoint: this.id }));
    this.#logger.info(`listening on ${this.socketPath}`, { endpoint: this.id });
  }

  /**
   * Serves an already connected client (what `start()` does for each accepted connection; also
   * for a socket inherited with `--fd`, or a channel pair in tests). A second client while one is
   * served gets EBUSY error replies and is disconnected; the first is not disturbed.
   */
  attach(connection: ServerConnection): void {
    if (connection.closed) return;
    if (this.#closed) {
      connection.destroy();
      return;
    }
    if (this.#session !== undefined) {
      this.#refuse(connection, 'another client is connected', Errno.EBUSY);
      return;
    }
    if (this.device === undefined) {
      this.#logger.error(`refusing client: no device on bus ${this.id}`, { endpoint: this.id });
      connection.destroy();
      return;
    }
    if (this.#tapConnection !== undefined) connection.setTap?.(this.#tapConnection(++this.#connections));
    const self = this;
    const host: SessionHost = {
      id: this.id,
      bus: this.bus,
      get device() {
        return self.device;
      },
      irqs: this.#irqs,
      logger: this.#logger,
      stats: this.#stats,
      offer: this.#offer,
      requestTimeoutMs: this.#requestTimeoutMs,
      resolveRegionFd: this.#resolveRegionFd,
      requireSealedDmaFds: this.#requireSealedDmaFds,
      onTrace: this.#onTrace,
      handshakeTimeoutMs: this.#caps.handshakeTimeoutMs,
      maxDmaBytes: BigInt(this.#caps.maxDmaBytes),
      sessionEnded: (session, error) => this.#sessionEnded(session, error),
    };
    this.#session = new Session(host, connection);
    this.#logger.info('client connected', { endpoint: this.id });
    this.#events.emit('client-connected');
  }

  /** Disconnects the client (its teardown runs as after a client disconnect). */
  async disconnect(): Promise<void> {
    const session = this.#session;
    if (session === undefined) return;
    session.disconnect();
    await session.ended;
  }

  /**
   * Disconnects the client, stops listening (removing the socket file) and removes the root bus
   * from the tree, unrealizing its devices. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener?.close();
    for (const c of [...this.#refused]) c.destroy();
    await this.disconnect();
    try {
      this.#tree.removeRootBus(this.bus);
    } catch (e) {
      this.#logger.warn(`removing bus ${this.id}: ${(e as Error).message}`, { endpoint: this.id });
    }
    this.bus.interruptSink = undefined;
  }

  #refuse(connection: ServerConnection, why: string, errno: number): void {
    this.#refusedTotal++;
    this.#refusalWarning.warn((suppressed) =>
      this.#logger.warn(`refusing client: ${why}`, {
        endpoint: this.id,
        ...(suppressed > 0 ? { alsoRefused: suppressed } : {}),
      }),
    );
    // A flood of refused clients must not pin fds: hold a few for their EBUSY reply, close the rest.
    if (this.#refused.size >= this.#caps.maxPendingConnections || this.#budget?.take() === false) {
      connection.destroy();
      return;
    }
    const budget = this.#budget;
    this.#refused.add(connection);
    const timer = setTimeout(() => connection.destroy(), REFUSE_GRACE_MS);
    timer.unref();
    connection.on('close', () => {
      clearTimeout(timer);
      if (this.#refused.delete(connection)) budget?.release();
    });
    connection.onRequest(() => {
      // Answer this first message, then hang up once the reply is flushed.
      setImmediate(() => void connection.close());
      throw new ServerError('request-rejected', `endpoint ${this.id}: ${why}`, { errno, endpoint: this.id });
    });
  }

  #sessionEnded(session: Session, error: Error | undefined): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    this.#irqs.releaseAll();
    this.#stats.dmaRegions = 0;
    const device = this.device;
    if (this.#resetOnDisconnect && device?.realized) {
      try {
        device.reset('warm');
      } catch (e) {
        this.#logger.error(`reset after disconnect failed: ${(e as Error).message}`, { endpoint: this.id });
      }
    }
    this.#irqs.resetState();
    this.#logger.info(`client disconnected${error ? `: ${error.message}` : ''}`, { endpoint: this.id });
    this.#events.emit('client-disconnected');
  }
}

function invalid(message: string, cause?: unknown): ServerError {
  return new ServerError('invalid-option', message, cause === undefined ? {} : { cause });
}

/** Connection caps with defaults filled in; each a non-negative integer (counts at least 1). */
function checkCaps(caps: ConnectionCaps): Readonly<Required<ConnectionCaps>> {
  if (typeof caps !== 'object' || caps === null) throw invalid('connectionCaps must be an object');
  const d = CONNECTION_CAPS_DEFAULTS;
  const ms = 2 ** 31 - 1;
  return Object.freeze({
    handshakeTimeoutMs: checkInt(
      caps.handshakeTimeoutMs ?? d.handshakeTimeoutMs,
      'connectionCaps.handshakeTimeoutMs',
      0,
      ms,
    ),
    messageTimeoutMs: checkInt(
      caps.messageTimeoutMs ?? d.messageTimeoutMs,
      'connectionCaps.messageTimeoutMs',
      0,
      ms,
    ),
    maxQueuedReplyBytes: checkInt(
      caps.maxQueuedReplyBytes ?? d.maxQueuedReplyBytes,
      'connectionCaps.maxQueuedReplyBytes',
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    maxQueuedReplies: checkInt(
      caps.maxQueuedReplies ?? d.maxQueuedReplies,
      'connectionCaps.maxQueuedReplies',
      1,
      2 ** 31 - 1,
    ),
    maxHeldFds: checkInt(caps.maxHeldFds ?? d.maxHeldFds, 'connectionCaps.maxHeldFds', 0, 65536),
    maxPendingConnections: checkInt(
      caps.maxPendingConnections ?? d.maxPendingConnections,
      'connectionCaps.maxPendingConnections',
      0,
      65536,
    ),
    maxDmaBytes: checkInt(
      caps.maxDmaBytes ?? d.maxDmaBytes,
      'connectionCaps.maxDmaBytes',
      1,
      Number.MAX_SAFE_INTEGER,
    ),
  });
}

function checkInt(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(`${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}
