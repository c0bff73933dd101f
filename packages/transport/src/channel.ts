import { EventEmitter } from 'node:events';
import {
  type Command,
  DEFAULT_RECEIVE_LIMITS,
  Errno,
  encodeHeader,
  type FramerEvent,
  type FramerLimits,
  HEADER_SIZE,
  type MessageHeader,
  type RequestOf,
} from '@vfu/protocol';
import { closeFdsQuietly, type FdLike, type UnixSocket } from '@vfu/sys';
import { TransportError } from './errors';
import { MessageReader, type MessageSink, type MessageSource } from './message-reader';
import { type Pending, PendingRequests } from './pending-requests';
import { type ChannelMessage, describeCommand, ReceivedMessage } from './received-message';
import { type Payload, type ReplyBody, type RequestHandler, RequestPump } from './request-pump';
import { type CallReply, decodeCallReply, type ReplyDecodeOptions, requestPayload } from './typed-call';
import { type MessageWriter, WriteQueue } from './write-queue';

export type { ChannelMessage } from './received-message';
export type { Payload, ReplyBody, RequestHandler } from './request-pump';

/** Options for {@link Channel.request}. */
export interface RequestOptions {
  /** Sent with the command; the caller keeps its own copies and may close them after the call. */
  fds?: readonly FdLike[];
  /** Fail with TIMEOUT after this long (default: the channel's `requestTimeoutMs`; 0 = never). */
  timeoutMs?: number;
  /** Most fds the reply may carry (default 0); more fail with UNEXPECTED_FDS and are closed. */
  acceptFds?: number;
  /** Fails the request with ABORTED when aborted; a late reply is then dropped. */
  signal?: AbortSignal;
}

/** Options for {@link Channel.call}: those of a request, plus reply decoding limits. */
export interface CallOptions extends RequestOptions, ReplyDecodeOptions {}

/** Options for {@link Channel.post}. */
export interface PostOptions {
  /** Sent with the command; the caller keeps its own copies and may close them after the call. */
  fds?: readonly FdLike[];
}

/** Header fields for {@link Channel.sendRaw}; `msgSize` is computed. */
export interface RawHeader {
  msgId: number;
  command: number;
  type: 'command' | 'reply';
  noReply?: boolean;
  error?: boolean;
  errorNo?: number;
}

/** One message as it crosses the socket, for captures (`vfu-server --trace-file`). */
export interface TappedMessage {
  /** `received` from the peer or `sent` to it. */
  direction: 'received' | 'sent';
  /**
   * The message bytes as they cross the socket, header first (views valid only during the call:
   * copy to keep). A received message is tapped before validation, so malformed ones appear too;
   * the body of an oversize one is skipped, so only its header is given.
   */
  parts: readonly Uint8Array[];
  /** Number of fds passed with it. */
  fds: number;
  /** Wall-clock time in ms since the epoch, with a sub-millisecond fraction. */
  time: number;
}

/**
 * Called synchronously for every message sent or received (before a sent one reaches the kernel).
 * It must not throw; one that does is removed and reported as a `warning`.
 */
export type MessageTap = (message: TappedMessage) => void;

/** Options of a {@link Channel}. */
export interface ChannelOptions {
  /** Sees every message in both directions (see {@link MessageTap}); `setTap()` changes it. */
  tap?: MessageTap;
  /** What this side accepts (default: the spec's pre-negotiation limits). */
  receiveLimits?: FramerLimits;
  /** What the peer accepts; outgoing messages are checked against it (default: same defaults). */
  sendLimits?: FramerLimits;
  /** Default timeout of `request()` in ms (default 5000, QEMU's; 0 = never). */
  requestTimeoutMs?: number;
  /** Queued outgoing bytes above which `writableNeedDrain` is true until 'drain' (default 1 MiB). */
  writeHighWaterMark?: number;
  /**
   * Most bytes queued for a peer that does not read (default 64 MiB). A command of ours beyond it
   * fails with WRITE_QUEUE_FULL; a reply beyond it closes the channel with WRITE_QUEUE_FULL.
   */
  maxWriteQueueBytes?: number;
  /** Most messages queued for a peer that does not read (default 4096); as `maxWriteQueueBytes`. */
  maxWriteQueueMessages?: number;
  /**
   * Run request handlers one at a time in arrival order, as vfio-user requires of a server
   * (default true). Replies are always processed at once, so a handler may await its own requests.
   */
  serializeRequests?: boolean;
  /** Incoming requests buffered behind a busy handler before reading pauses (default 1024). */
  maxQueuedRequests?: number;
  /**
   * Requests handled in one turn of the event loop before the rest wait for the next (default 64),
   * so that one busy peer cannot starve other channels in the process.
   */
  burstRequests?: number;
  /** The same, in bytes of requests and their replies (default 1 MiB; one request at least). */
  burstBytes?: number;
  /**
   * A message that has started to arrive must be complete within this many ms, or the channel
   * closes with TIMEOUT (default 10000; 0 = never): a peer that sends half a header and stalls
   * does not hold the connection for good.
   */
  messageTimeoutMs?: number;
  /**
   * Most received fds the channel holds at once for messages not yet handled (default 256).
   * fds beyond it are closed on receipt and their message is refused with EMFILE.
   */
  maxHeldFds?: number;
}

/** Events of a {@link Channel}. */
export interface ChannelEvents {
  /** The channel is closed; `error` says why when it was not a local `close()`/`destroy()`. */
  close: [error: TransportError | undefined];
  /** A fatal error, emitted just before `close` (only when someone listens). */
  error: [error: TransportError];
  /** A non-fatal anomaly: a rejected malformed message, an unmatched reply, a failed handler. */
  warning: [error: TransportError];
  /** The write queue fell back below the high-water mark. */
  drain: [];
}

/** Defaults of the {@link ChannelOptions} caps. */
export const CHANNEL_DEFAULTS = Object.freeze({
  requestTimeoutMs: 5000,
  writeHighWaterMark: 1024 * 1024,
  maxWriteQueueBytes: 64 * 1024 * 1024,
  maxWriteQueueMessages: 4096,
  maxQueuedRequests: 1024,
  burstRequests: 64,
  burstBytes: 1024 * 1024,
  messageTimeoutMs: 10_000,
  maxHeldFds: 256,
});

function partsOf(payload: Payload | undefined): Uint8Array[] {
  if (payload === undefined) return [];
  if (payload instanceof Uint8Array) return payload.byteLength === 0 ? [] : [payload];
  return payload.filter((p) => p.byteLength > 0);
}

function rawFds(fds: readonly FdLike[] | undefined): number[] {
  if (fds === undefined || fds.length === 0) return [];
  return fds.map((fd) => (typeof fd === 'number' ? fd : fd.fd));
}

function checkCount(value: number, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TransportError('INVALID_ARGUMENT', `${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/**
 * A vfio-user message channel over one connected UNIX stream socket: whole messages with their
 * fds in both directions, replies matched to requests by message id, requests from the peer
 * handed to a handler, limits enforced before anything is buffered.
 *
 * The channel composes four parts: a {@link MessageSource} (the reader, message-exact over the
 * socket), a {@link WriteQueue} over a {@link MessageWriter} (the socket), the pending requests
 * and the request pump. Reader and writer are interfaces so that a native message loop can
 * replace them without touching the rest.
 */
export class Channel extends EventEmitter<ChannelEvents> {
  readonly #socket: UnixSocket;
  readonly #reader: MessageReader;
  readonly #writes: WriteQueue;
  readonly #pending = new PendingRequests<ChannelMessage>();
  readonly #pump: RequestPump;
  #tap: MessageTap | undefined;
  readonly #sink: MessageSink;
  #receiveLimits: FramerLimits;
  #sendLimits: FramerLimits;
  readonly #requestTimeoutMs: number;

  #closing: Promise<void> | undefined;
  /** Resolves `#closing` once the socket is closed. */
  #closed: (() => void) | undefined;
  #destroyed = false;

  /** Wraps a connected socket; the channel owns it from now on. */
  constructor(socket: UnixSocket, options: ChannelOptions = {}) {
    super();
    const d = CHANNEL_DEFAULTS;
    this.#socket = socket;
    this.#receiveLimits = { ...(options.receiveLimits ?? DEFAULT_RECEIVE_LIMITS) };
    this.#sendLimits = { ...(options.sendLimits ?? DEFAULT_RECEIVE_LIMITS) };
    this.#requestTimeoutMs = options.requestTimeoutMs ?? d.requestTimeoutMs;
    const maxHeldFds = checkCount(options.maxHeldFds ?? d.maxHeldFds, 'maxHeldFds', 0);
    try {
      this.#reader = new MessageReader(socket, this.#receiveLimits, {
        messageTimeoutMs: checkCount(options.messageTimeoutMs ?? d.messageTimeoutMs, 'messageTimeoutMs', 0),
        maxHeldFds,
        heldElsewhere: () => this.#pump.heldFds,
      });
    } catch (cause) {
      throw new TransportError('INVALID_ARGUMENT', `bad receive limits: ${(cause as Error).message}`, {
        cause,
      });
    }
    const writer: MessageWriter = socket;
    const self = this;
    this.#writes = new WriteQueue(
      writer,
      {
        highWaterMark: options.writeHighWaterMark ?? d.writeHighWaterMark,
        maxBytes: checkCount(options.maxWriteQueueBytes ?? d.maxWriteQueueBytes, 'maxWriteQueueBytes', 0),
        maxMessages: checkCount(
          options.maxWriteQueueMessages ?? d.maxWriteQueueMessages,
          'maxWriteQueueMessages',
          1,
        ),
      },
      {
        drain: () => this.emit('drain'),
        empty: () => {
          if (this.#closing) this.#destroy(undefined);
        },
        failed: (error) => this.#destroy(error),
      },
    );
    this.#pump = new RequestPump(
      {
        reply: (header, reply) => this.#reply(header, reply),
        errorReply: (header, errno) => this.#sendErrorReply(header, errno),
        warning: (error) => this.emit('warning', error),
        pauseReading: (paused) => this.#reader.setSink(paused ? null : this.#sink),
        get closed() {
          return self.closed;
        },
      },
      {
        serialize: options.serializeRequests ?? true,
        maxQueued: options.maxQueuedRequests ?? d.maxQueuedRequests,
        burstMessages: options.burstRequests ?? d.burstRequests,
        burstBytes: options.burstBytes ?? d.burstBytes,
      },
    );
    this.#sink = {
      event: (event) => this.#onEvent(event),
      end: (error) => this.#destroy(error),
      warning: (error) => this.emit('warning', error),
      tap: (parts, fds) => {
        if (this.#tap !== undefined) this.#callTap('received', parts, fds);
      },
    };
    this.#tap = options.tap;
    this.#reader.setSink(this.#sink);
  }

  /** True once closed (locally or by the peer); every later operation fails with CLOSED. */
  get closed(): boolean {
    return this.#destroyed || this.#closing !== undefined;
  }

  /** Requests sent and not yet answered. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /** Bytes queued for writing because the socket was full. */
  get writableLength(): number {
    return this.#writes.bytes;
  }

  /** Messages queued for writing because the socket was full. */
  get writableMessages(): number {
    return this.#writes.length;
  }

  /** True while more than `writeHighWaterMark` bytes are queued; wait for 'drain'. */
  get writableNeedDrain(): boolean {
    return this.#writes.needDrain;
  }

  /** Limits enforced on received messages. */
  get receiveLimits(): Readonly<FramerLimits> {
    return this.#receiveLimits;
  }

  /** Limits enforced on sent messages (the peer's). */
  get sendLimits(): Readonly<FramerLimits> {
    return this.#sendLimits;
  }

  /** Replaces the receive limits (after VERSION negotiation); they apply from the next message. */
  setReceiveLimits(limits: FramerLimits): void {
    try {
      this.#reader.setLimits(limits);
    } catch (cause) {
      throw new TransportError('INVALID_ARGUMENT', `bad receive limits: ${(cause as Error).message}`, {
        cause,
      });
    }
    this.#receiveLimits = { ...limits };
  }

  /** Replaces the limits outgoing messages are checked against (the peer's, after VERSION). */
  setSendLimits(limits: FramerLimits): void {
    if (!Number.isSafeInteger(limits.maxMessageSize) || limits.maxMessageSize < HEADER_SIZE) {
      throw new TransportError('INVALID_ARGUMENT', `maxMessageSize ${limits.maxMessageSize} is below 16`);
    }
    if (!Number.isSafeInteger(limits.maxFdsPerMessage) || limits.maxFdsPerMessage < 0) {
      throw new TransportError(
        'INVALID_ARGUMENT',
        `maxFdsPerMessage ${limits.maxFdsPerMessage} is not a count`,
      );
    }
    this.#sendLimits = { ...limits };
  }

  #callTap(direction: TappedMessage['direction'], parts: readonly Uint8Array[], fds: number): void {
    const tap = this.#tap as MessageTap;
    try {
      tap({ direction, parts, fds, time: performance.timeOrigin + performance.now() });
    } catch (cause) {
      this.#tap = undefined;
      this.emit(
        'warning',
        new TransportError('HANDLER_FAILED', `message tap threw, removed: ${String(cause)}`, { cause }),
      );
    }
  }

  /** Sets (or with undefined removes) the tap that sees every message; see {@link MessageTap}. */
  setTap(tap: MessageTap | undefined): void {
    this.#tap = tap;
  }

  /** Sets (or with null removes) the handler of incoming commands. */
  onRequest(handler: RequestHandler | null): void {
    this.#pump.setHandler(handler ?? undefined);
  }

  /**
   * Sends `command` with `body` encoded by the command's codec and resolves with the decoded
   * reply, typed for that command. Fails as {@link request} does, with INVALID_ARGUMENT for a
   * body that does not encode and PROTOCOL_VIOLATION for a reply that does not decode.
   */
  async call<C extends Command>(
    command: C,
    body: RequestOf<C>,
    options: CallOptions = {},
  ): Promise<CallReply<C>> {
    const reply = await this.request(command, requestPayload(command, body), options);
    return decodeCallReply(command, reply, options);
  }

  /** {@link post} with `body` encoded by the command's codec (a No_reply command). */
  callNoReply<C extends Command>(command: C, body: RequestOf<C>, options: PostOptions = {}): Promise<void> {
    let payload: Uint8Array;
    try {
      payload = requestPayload(command, body);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.post(command, payload, options);
  }

  /**
   * Sends a command and resolves with its reply. Rejects with ERROR_REPLY (carrying the peer's
   * errno, the command and msgId) when the reply has the Error flag, TIMEOUT, ABORTED,
   * LIMIT_EXCEEDED, UNEXPECTED_FDS, PEER_CLOSED or CLOSED.
   */
  request(command: number, payload?: Payload, options: RequestOptions = {}): Promise<ChannelMessage> {
    if (this.closed) return Promise.reject(this.#closedError(command));
    const msgId = this.#pending.allocateMsgId();
    if (msgId === undefined) {
      return Promise.reject(
        new TransportError('TOO_MANY_PENDING', 'every message id is in use by an outstanding request', {
          command,
        }),
      );
    }
    if (options.signal?.aborted) {
      return Promise.reject(
        new TransportError('ABORTED', `${describeCommand(command)} aborted before sending`, {
          command,
          msgId,
        }),
      );
    }
    const sent = this.#send({ msgId, command, type: 'command' }, payload, options.fds);
    // A request that cannot even be queued fails alone; nothing is pending for it.
    if (sent instanceof TransportError) return Promise.reject(sent);
    return new Promise<ChannelMessage>((resolve, reject) => {
      const pending: Pending<ChannelMessage> = {
        command,
        acceptFds: options.acceptFds ?? 0,
        resolve,
        reject,
        deadline: Number.POSITIVE_INFINITY,
        timeoutMs: options.timeoutMs ?? this.#requestTimeoutMs,
        cleanup: undefined,
      };
      sent.catch((error: TransportError) => {
        if (this.#pending.settle(msgId, pending)) pending.reject(error);
      });
      this.#pending.add(msgId, pending);
      const signal = options.signal;
      if (signal) {
        const onAbort = () => {
          this.#pending.abandon(msgId, pending);
          pending.reject(
            new TransportError('ABORTED', `${describeCommand(command)} (msg_id ${msgId}) aborted`, {
              command,
              msgId,
              cause: signal.reason,
            }),
          );
        };
        signal.addEventListener('abort', onAbort, { once: true });
        pending.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
    });
  }

  /**
   * Sends a command with No_reply set. Resolves once all its bytes are handed to the kernel, which
   * is the natural backpressure: awaiting it never lets the write queue grow.
   */
  post(command: number, payload?: Payload, options: PostOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(this.#closedError(command));
    const msgId = this.#pending.anyMsgId();
    const sent = this.#send({ msgId, command, type: 'command', noReply: true }, payload, options.fds);
    return sent instanceof TransportError ? Promise.reject(sent) : sent;
  }

  /**
   * Sends a message with exactly these header fields (msgSize computed): replies outside a
   * handler, or deliberately odd messages in tests. The peer's limits still apply.
   */
  sendRaw(header: RawHeader, payload?: Payload, fds?: readonly FdLike[]): Promise<void> {
    if (this.closed) return Promise.reject(this.#closedError(header.command, header.msgId));
    const sent = this.#send(header, payload, fds);
    return sent instanceof TransportError ? Promise.reject(sent) : sent;
  }

  /**
   * Orderly close: new operations fail with CLOSED, outstanding requests fail with CLOSED, queued
   * writes are flushed (unless the peer is gone), then the socket is closed and 'close' emitted.
   */
  close(): Promise<void> {
    if (this.#destroyed) return Promise.resolve();
    if (this.#closing) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      this.#closed = resolve;
    });
    this.#reader.setSink(null);
    this.#pending.failAll(() => new TransportError('CLOSED', 'channel closed before the reply arrived'));
    if (this.#writes.length === 0) this.#destroy(undefined);
    return this.#closing;
  }

  /** Immediate close: queued writes are dropped and everything outstanding fails. */
  destroy(): void {
    this.#destroy(undefined);
  }

  /** Lets the process exit while the channel is open. */
  unref(): void {
    this.#socket.unref();
  }

  /** Undoes `unref()`. */
  ref(): void {
    this.#socket.ref();
  }

  // ---- sending -------------------------------------------------------------------------------

  /**
   * Sends or queues one message. Problems found before anything is written come back as a
   * TransportError (not a rejected promise) so callers can fail just that operation.
   */
  #send(
    header: RawHeader,
    payload: Payload | undefined,
    fds: readonly FdLike[] | undefined,
  ): Promise<void> | TransportError {
    const parts = partsOf(payload);
    let bodySize = 0;
    for (const p of parts) bodySize += p.byteLength;
    const msgSize = HEADER_SIZE + bodySize;
    const ctx = { command: header.command, msgId: header.msgId };
    let raw: number[];
    try {
      raw = rawFds(fds);
    } catch (cause) {
      return new TransportError('INVALID_ARGUMENT', 'an fd to send is already closed', { ...ctx, cause });
    }
    if (msgSize > this.#sendLimits.maxMessageSize) {
      return new TransportError(
        'LIMIT_EXCEEDED',
        `${describeCommand(header.command)} of ${msgSize} bytes exceeds the peer's limit of ${this.#sendLimits.maxMessageSize}`,
        ctx,
      );
    }
    if (raw.length > this.#sendLimits.maxFdsPerMessage) {
      return new TransportError(
        'LIMIT_EXCEEDED',
        `${describeCommand(header.command)} carries ${raw.length} fds, the peer accepts ${this.#sendLimits.maxFdsPerMessage}`,
        ctx,
      );
    }
    let head: Uint8Array;
    try {
      head = encodeHeader({ ...header, msgSize });
    } catch (cause) {
      return new TransportError('INVALID_ARGUMENT', `bad header: ${String(cause)}`, { ...ctx, cause });
    }
    if (this.#tap !== undefined) this.#callTap('sent', [head, ...parts], raw.length);
    const sent = this.#writes.send(ctx, [head, ...parts], msgSize, raw);
    if (sent instanceof Promise) return sent;
    if (sent.fatal) this.#destroy(sent.error);
    return sent.error;
  }

  #reply(header: MessageHeader, reply: ReplyBody | undefined): void {
    if (this.closed) return;
    const replyHeader: RawHeader = { msgId: header.msgId, command: header.command, type: 'reply' };
    const sent = this.#send(replyHeader, reply?.payload, reply?.fds);
    if (sent instanceof TransportError) {
      if (sent.code === 'WRITE_QUEUE_FULL') {
        // The peer keeps sending and does not read its replies: it goes, before the queue grows.
        this.#destroy(
          new TransportError('WRITE_QUEUE_FULL', `peer does not read its replies: ${sent.message}`, {
            command: header.command,
            msgId: header.msgId,
          }),
        );
        return;
      }
      this.emit('warning', sent);
      if (!this.closed) {
        this.#sendErrorReply(header, sent.code === 'LIMIT_EXCEEDED' ? Errno.E2BIG : Errno.EINVAL);
      }
      return;
    }
    // A failure later means the channel is going down, and its 'close' event says why.
    sent.catch(() => {});
  }

  #sendErrorReply(header: MessageHeader, errno: number): void {
    if (this.closed) return;
    const sent = this.#send(
      { msgId: header.msgId, command: header.command, type: 'reply', error: true, errorNo: errno },
      undefined,
      undefined,
    );
    if (sent instanceof TransportError) {
      if (sent.code === 'WRITE_QUEUE_FULL') {
        this.#destroy(
          new TransportError('WRITE_QUEUE_FULL', `peer does not read its replies: ${sent.message}`, {
            command: header.command,
            msgId: header.msgId,
          }),
        );
      }
      return;
    }
    // Only fails when the channel is going down; 'close' reports that.
    sent.catch(() => {});
  }

  #closedError(command?: number, msgId?: number): TransportError {
    return new TransportError('CLOSED', 'channel is closed', {
      ...(command === undefined ? {} : { command }),
      ...(msgId === undefined ? {} : { msgId }),
    });
  }

  // ---- receiving -----------------------------------------------------------------------------

  #onEvent(event: FramerEvent): void {
    if (event.kind === 'error') {
      closeFdsQuietly(event.fds);
      const { error, header } = event;
      const ctx = { command: error.command ?? header?.command, msgId: error.msgId ?? header?.msgId };
      const context = {
        ...(ctx.command === undefined ? {} : { command: ctx.command }),
        ...(ctx.msgId === undefined ? {} : { msgId: ctx.msgId }),
        errno: error.errno,
        cause: error,
      };
      const violation = new TransportError(
        'PROTOCOL_VIOLATION',
        `rejected message: ${error.message}`,
        context,
      );
      if (header?.type === 'command' && !header.noReply) {
        this.#sendErrorReply(header, error.errno);
      } else if (header?.type === 'reply') {
        const pending = this.#pending.get(header.msgId);
        if (pending && this.#pending.settle(header.msgId, pending)) pending.reject(violation);
      }
      if (!event.resync) {
        this.#destroy(violation);
        return;
      }
      this.emit('warning', violation);
      return;
    }
    const message = new ReceivedMessage(event.message);
    if (message.header.type === 'reply') this.#onReply(message);
    else this.#pump.push(message);
  }

  #onReply(message: ReceivedMessage): void {
    const { msgId, command, error, errorNo } = message.header;
    const pending = this.#pending.get(msgId);
    if (!pending) {
      message.closeUntaken();
      if (this.#pending.wasAbandoned(msgId)) return;
      this.emit(
        'warning',
        new TransportError(
          'UNEXPECTED_REPLY',
          `reply to ${describeCommand(command)} with unknown msg_id ${msgId}`,
          {
            command,
            msgId,
          },
        ),
      );
      return;
    }
    this.#pending.settle(msgId, pending);
    const ctx = { command: pending.command, msgId };
    if (command !== pending.command) {
      message.closeUntaken();
      pending.reject(
        new TransportError(
          'PROTOCOL_VIOLATION',
          `reply to ${describeCommand(pending.command)} (msg_id ${msgId}) names ${describeCommand(command)}`,
          { ...ctx, errno: Errno.EPROTO },
        ),
      );
      return;
    }
    if (error) {
      message.closeUntaken();
      // libvfio-user's rule: an error_no outside 1..4095 means EINVAL.
      const errno = errorNo > 0 && errorNo < 4096 ? errorNo : Errno.EINVAL;
      pending.reject(
        new TransportError(
          'ERROR_REPLY',
          `${describeCommand(pending.command)} (msg_id ${msgId}) failed: errno ${errno}`,
          {
            ...ctx,
            errno,
          },
        ),
      );
      return;
    }
    if (message.fds.length > pending.acceptFds) {
      message.closeUntaken();
      pending.reject(
        new TransportError(
          'UNEXPECTED_FDS',
          `reply to ${describeCommand(pending.command)} (msg_id ${msgId}) carried ${message.fds.length} fds, ${pending.acceptFds} accepted; closed them`,
          { ...ctx, errno: Errno.EINVAL },
        ),
      );
      return;
    }
    pending.resolve(message);
  }

  // ---- teardown ------------------------------------------------------------------------------

  #destroy(error: TransportError | undefined): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#pending.stop();
    const reason = error ?? new TransportError('CLOSED', 'channel closed');
    this.#pending.failAll(() => reason);
    this.#writes.clear(reason);
    this.#pump.clear();
    this.#reader.dispose();
    try {
      this.#socket.close();
    } catch {
      // Already gone; nothing more to release.
    }
    this.#closed?.();
    if (error && this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('close', error);
  }
}
