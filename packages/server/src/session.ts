/**
 * One client connection of an endpoint: VERSION state, DMA mappings, and the dispatcher that turns
 * each received message into exactly one reply (or none for No_reply) through the handler table.
 * Requests are handled one at a time in arrival order (the connection serialises them), so a
 * handler awaiting message DMA is never overtaken by a later request.
 */

import { errnoOf, hex } from '@vfu/errors';
import type { PciDevice, PciRootBus } from '@vfu/pci';
import {
  CAPABILITY_DEFAULTS,
  Command,
  commandName,
  dataMessageSize,
  decodeMessage,
  describe,
  Errno,
  encodeReplyPayload,
  errnoName,
  type Message,
  type MessageHeader,
  type NegotiatedCapabilities,
  type ReplyMessage,
  type RequestOf,
  type VersionOffer,
} from '@vfu/protocol';
import type { FdLike } from '@vfu/sys';
import type { CallReply, ChannelMessage, ReplyBody } from '@vfu/transport';
import type { CommandContext } from './command-context';
import type { ServerConnection } from './connection';
import { DmaController, type DmaMessenger } from './dma';
import { reject, ServerError } from './errors';
import { COMMAND_HANDLERS, type CommandHandler, type HandlerResult } from './handlers';
import type { IrqController } from './irqs';
import type { RegionFdResolver } from './regions';
import type { ServerLogger, ServerStats, TraceEvent } from './types';

/** What a session needs from its endpoint. */
export interface SessionHost {
  readonly id: string;
  readonly bus: PciRootBus;
  readonly device: PciDevice | undefined;
  readonly irqs: IrqController;
  readonly logger: ServerLogger;
  readonly stats: ServerStats;
  readonly offer: VersionOffer;
  readonly requestTimeoutMs: number;
  readonly resolveRegionFd: RegionFdResolver | undefined;
  readonly requireSealedDmaFds: boolean;
  readonly onTrace: ((e: TraceEvent) => void) | undefined;
  /** A client that has not completed VERSION this long after connecting is disconnected (0 = never). */
  readonly handshakeTimeoutMs: number;
  /** Most DMA bytes a client may map at once (undefined: no cap). */
  readonly maxDmaBytes: bigint | undefined;
  /** The client went away (after DMA is torn down). */
  sessionEnded(session: Session, error: Error | undefined): void;
}

/** One connected client. */
export class Session implements CommandContext {
  readonly host: SessionHost;
  readonly connection: ServerConnection;
  #negotiated: NegotiatedCapabilities | undefined;
  #dma: DmaController | undefined;
  #ended = false;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Shared memory handed to this client, with the unsubscribe of its poison listener. */
  readonly #watched = new Map<object, () => void>();
  /** Resolves when the session's teardown is complete. */
  readonly ended: Promise<void>;
  #resolveEnded!: () => void;

  constructor(host: SessionHost, connection: ServerConnection) {
    this.host = host;
    this.connection = connection;
    this.ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
    connection.on('close', (error) => void this.#teardown(error));
    connection.on('warning', (warning) => {
      // A message rejected before it could be decoded (oversize, bad flags) never reaches the
      // dispatcher; the connection answers it itself when an answer is due. Count and trace it.
      if (warning.code === 'PROTOCOL_VIOLATION' && warning.errno !== undefined) {
        host.stats.messagesIn++;
        const what = warning.command === undefined ? 'message' : commandName(warning.command);
        this.#trace(
          'rx',
          `${what} REJECTED ${errnoName(warning.errno)}(${warning.errno}): ${warning.message}`,
        );
      }
      host.logger.debug(`connection warning: ${warning.message}`, { endpoint: host.id });
    });
    connection.onRequest((request) => this.#handle(request));
    if (host.handshakeTimeoutMs > 0) {
      this.#handshakeTimer = setTimeout(() => {
        host.logger.warn(
          `client did not complete VERSION within ${host.handshakeTimeoutMs} ms; disconnecting it`,
          { endpoint: host.id },
        );
        this.disconnect();
      }, host.handshakeTimeoutMs);
      this.#handshakeTimer.unref();
    }
  }

  /** What VERSION agreed, once it has completed. */
  get negotiated(): NegotiatedCapabilities | undefined {
    return this.#negotiated;
  }

  /** The DMA mappings of this client (after VERSION). */
  get dma(): DmaController | undefined {
    return this.#dma;
  }

  /** The served device, or ENODEV when it has been removed. */
  requireDevice(): PciDevice {
    const device = this.host.device;
    if (device === undefined) throw reject(`endpoint ${this.host.id} has no device`, Errno.ENODEV);
    return device;
  }

  /** DMA controller, present once VERSION completed. */
  requireDma(): DmaController {
    if (this.#dma === undefined) throw reject('DMA before VERSION');
    return this.#dma;
  }

  /** Applies a successful VERSION negotiation: limits both ways, and DMA. */
  negotiatedWith(n: NegotiatedCapabilities): void {
    this.#negotiated = n;
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.connection.setReceiveLimits({
      maxMessageSize: dataMessageSize(n.maxRecvDataXferSize),
      maxFdsPerMessage: n.maxRecvFds,
    });
    this.connection.setSendLimits({
      maxMessageSize: dataMessageSize(Math.max(n.maxSendDataXferSize, n.maxRecvDataXferSize)),
      maxFdsPerMessage: n.maxSendFds,
    });
    this.#dma = new DmaController(this.host.bus, this.#messenger(n), n.maxDmaMaps, {
      requireShrinkSeal: this.host.requireSealedDmaFds,
      ...(this.host.maxDmaBytes === undefined ? {} : { maxBytes: this.host.maxDmaBytes }),
      warn: (message) => this.host.logger.warn(message, { endpoint: this.host.id }),
      poisoned: (range) => {
        this.host.logger.error(
          `client truncated the memory behind DMA region ${range}: device DMA to it failed; disconnecting the client`,
          { endpoint: this.host.id },
        );
        this.disconnect();
      },
    });
  }

  /**
   * Drops this client if the shared memory behind `what` (a BAR handed out as sparse mmap areas)
   * is truncated: the client held its fd, so the client did it.
   */
  watchSharedMemory(mapping: { onPoisoned(listener: () => void): () => void }, what: string): void {
    if (this.#watched.has(mapping)) return;
    this.#watched.set(
      mapping,
      mapping.onPoisoned(() => {
        this.host.logger.error(`client truncated the shared memory of ${what}: disconnecting the client`, {
          endpoint: this.host.id,
        });
        this.disconnect();
      }),
    );
  }

  /** Logs a guest mistake (an access to a hole in a BAR...): a debug line, never an error reply. */
  readonly guestError = (message: string): void => {
    this.host.logger.debug(`guest error: ${message}`, { endpoint: this.host.id });
  };

  /**
   * Closes the connection once the reply to the request being handled is on its way: the reply
   * is queued when the handler returns or throws, before this microtask, and an orderly close
   * flushes it.
   */
  closeAfterReply(): void {
    queueMicrotask(() => void this.connection.close());
  }

  /** Closes the connection (the teardown runs from its close event). */
  disconnect(): void {
    this.connection.destroy();
  }

  // ---- dispatch ------------------------------------------------------------------------------

  #handle(raw: ChannelMessage): ReplyBody | undefined | Promise<ReplyBody | undefined> {
    const host = this.host;
    host.stats.messagesIn++;
    if (host.onTrace !== undefined) this.#traceMessage('rx', raw);
    let result: HandlerResult | Promise<HandlerResult>;
    try {
      result = this.#run(raw);
    } catch (e) {
      return this.#fail(raw.header, e);
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => this.#reply(raw.header, r),
        (e: unknown) => this.#fail(raw.header, e),
      );
    }
    return this.#reply(raw.header, result);
  }

  #run(raw: ChannelMessage): HandlerResult | Promise<HandlerResult> {
    const message = decodeMessage(raw, {
      role: 'server',
      maxDataXferSize: this.#negotiated?.maxRecvDataXferSize ?? CAPABILITY_DEFAULTS.maxDataXferSize,
    });
    if (message.kind !== 'request') throw reject('not a command');
    if (this.#negotiated === undefined && message.command !== Command.Version) {
      throw reject(`${commandName(message.command)} before VERSION: the first message must be VERSION`);
    }
    const handler = COMMAND_HANDLERS[message.command] as CommandHandler;
    return handler(this, message, raw);
  }

  #reply(header: MessageHeader, result: HandlerResult): ReplyBody | undefined {
    if (header.noReply) return undefined;
    const command = header.command as Command;
    const payload = encodeReplyPayload(command, result.body);
    this.host.stats.messagesOut++;
    if (this.host.onTrace !== undefined) {
      const message = {
        kind: 'reply',
        command,
        msgId: header.msgId,
        body: result.body,
        ...(result.fds === undefined ? {} : { fds: result.fds.map(fdNumber) }),
      } as ReplyMessage;
      this.#traceMessage('tx', message);
    }
    return result.fds === undefined ? { payload } : { payload, fds: result.fds };
  }

  #fail(header: MessageHeader, e: unknown): never {
    const host = this.host;
    const errno = errnoOf(e);
    const what = `${commandName(header.command)} #${hex(header.msgId)}`;
    const text = e instanceof Error ? e.message : String(e);
    if (errno === undefined) {
      host.logger.error(`${what} failed unexpectedly: ${text}`, { endpoint: host.id, cause: e });
    } else {
      host.logger.debug(`${what} rejected: ${text}`, { endpoint: host.id, errno });
    }
    const errorNo = errno ?? Errno.EIO;
    if (!header.noReply) {
      host.stats.errorsReplied++;
      host.stats.messagesOut++;
      if (host.onTrace !== undefined) {
        this.#traceMessage('tx', { kind: 'error', command: header.command, msgId: header.msgId, errorNo });
      }
    }
    throw new ServerError('request-rejected', `${what}: ${text}`, {
      errno: errorNo,
      command: header.command,
      endpoint: host.id,
      cause: e,
    });
  }

  // ---- DMA messages ----------------------------------------------------------------------------

  #messenger(n: NegotiatedCapabilities): DmaMessenger {
    return {
      maxTransferSize: n.maxSendDataXferSize,
      read: async (address, count) => {
        const c = BigInt(count);
        const reply = await this.#dmaCall(Command.DmaRead, { address, count: c });
        const data = checkDmaEcho(Command.DmaRead, reply.body, address, c);
        if (data === undefined || data.length !== count) throw dmaReplyError(Command.DmaRead, 'short data');
        return data;
      },
      write: async (address, data) => {
        const c = BigInt(data.length);
        const reply = await this.#dmaCall(Command.DmaWrite, { address, count: c, data });
        checkDmaEcho(Command.DmaWrite, reply.body, address, c);
      },
    };
  }

  /** Sends one DMA_READ/DMA_WRITE to the client and returns its decoded reply. */
  async #dmaCall<C extends Command.DmaRead | Command.DmaWrite>(
    command: C,
    body: RequestOf<C>,
  ): Promise<CallReply<C>> {
    let reply: CallReply<C>;
    try {
      reply = await this.connection.call(command, body, { timeoutMs: this.host.requestTimeoutMs });
    } catch (e) {
      const errno = (e as { errno?: number }).errno ?? Errno.EIO;
      this.host.logger.warn(`${commandName(command)} failed: ${(e as Error).message}`, {
        endpoint: this.host.id,
      });
      throw new ServerError('dma-failed', `${commandName(command)}: ${(e as Error).message}`, {
        errno,
        command,
        endpoint: this.host.id,
        cause: e,
      });
    }
    this.host.stats.messagesOut++;
    this.host.stats.messagesIn++;
    if (this.host.onTrace !== undefined) {
      // The connection picks the msg_id; the reply carries it.
      const msgId = reply.msgId;
      this.#traceMessage('tx', { kind: 'request', command, msgId, body } as Message);
      this.#traceMessage('rx', { kind: 'reply', command, msgId, body: reply.body } as Message);
    }
    return reply;
  }

  // ---- teardown and tracing ------------------------------------------------------------------

  async #teardown(error: Error | undefined): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    for (const stop of this.#watched.values()) stop();
    this.#watched.clear();
    try {
      await this.#dma?.unmapAll();
    } catch (e) {
      this.host.logger.error('DMA teardown failed', { endpoint: this.host.id, cause: e });
    }
    this.host.sessionEnded(this, error);
    this.#resolveEnded();
  }

  #traceMessage(direction: 'rx' | 'tx', message: Message | ChannelMessage): void {
    const d = describe(message);
    this.host.onTrace?.({ endpoint: this.host.id, direction, text: d.summary, detail: d.detail });
  }

  #trace(direction: 'rx' | 'tx', text: string): void {
    this.host.onTrace?.({ endpoint: this.host.id, direction, text });
  }
}

function fdNumber(fd: FdLike): number {
  return typeof fd === 'number' ? fd : fd.fd;
}

/**
 * Checks a DMA reply names the range of its request and returns its data. DMA_WRITE replies may
 * be header-only (QEMU) or the short form: only a full echo is checked.
 */
function checkDmaEcho(
  command: Command,
  reply: object,
  address: bigint,
  count: bigint,
): Uint8Array | undefined {
  const echo = reply as { address?: bigint; count?: bigint; data?: Uint8Array };
  if (echo.address !== undefined && (echo.address !== address || echo.count !== count)) {
    throw dmaReplyError(
      command,
      `reply names ${hex(echo.address)}+${echo.count}, request was ${hex(address)}+${count}`,
    );
  }
  return echo.data;
}

function dmaReplyError(command: Command, why: string): ServerError {
  return new ServerError('dma-failed', `${commandName(command)} reply: ${why}`, {
    errno: Errno.EIO,
    command,
  });
}
