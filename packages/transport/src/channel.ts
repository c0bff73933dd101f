import { EventEmitter } from 'node:events';
import {
  commandName,
  DEFAULT_RECEIVE_LIMITS,
  Errno,
  encodeHeader,
  type FramedMessage,
  type FramerEvent,
  type FramerLimits,
  HEADER_SIZE,
  isProtocolError,
  MessageFramer,
  type MessageHeader,
} from '@vfu/protocol';
import { closeFdsQuietly, type FdLike, isSysError, OwnedFd, type UnixSocket } from '@vfu/sys';
import { TransportError } from './errors';

/** Message bytes: one array, or several gathered into one message without copying. */
export type Payload = Uint8Array | readonly Uint8Array[];

/**
 * A received message. `payload` is a view onto a buffer allocated for this message alone, so it
 * stays valid as long as you keep it.
 *
 * fd ownership: the fds in `fds` belong to the channel until you call `takeFds()`.
 * - A request given to a handler: fds not taken by the time the handler settles are closed.
 * - A reply returned by `request()`: the fds belong to the caller from then on (at most the
 *   `acceptFds` the request allowed); use `takeFds()` to get owning objects, or close them.
 */
export interface ChannelMessage extends FramedMessage {
  /** Takes ownership of the received fds (idempotent: later calls return an empty array). */
  takeFds(): OwnedFd[];
}

/** What a request handler answers: payload and fds of the reply (both optional). */
export interface ReplyBody {
  payload?: Payload;
  /** Sent with the reply; the caller keeps its own copies and may close them once sent. */
  fds?: readonly FdLike[];
}

/**
 * Handles one incoming command. Return the reply (or nothing for an empty reply); throw a
 * ProtocolError (or anything with a positive `errno`) to send an error reply with that errno.
 * Anything else thrown becomes an EIO error reply and a `warning` event (HANDLER_FAILED).
 * For No_reply commands the result is ignored.
 */
export type RequestHandler = (
  request: ChannelMessage,
) => ReplyBody | undefined | Promise<ReplyBody | undefined>;

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

/** Options of a {@link Channel}. */
export interface ChannelOptions {
  /** What this side accepts (default: the spec's pre-negotiation limits). */
  receiveLimits?: FramerLimits;
  /** What the peer accepts; outgoing messages are checked against it (default: same defaults). */
  sendLimits?: FramerLimits;
  /** Default timeout of `request()` in ms (default 5000, QEMU's; 0 = never). */
  requestTimeoutMs?: number;
  /** Queued outgoing bytes above which `writableNeedDrain` is true until 'drain' (default 1 MiB). */
  writeHighWaterMark?: number;
  /** Queued outgoing bytes beyond which sends fail with WRITE_QUEUE_FULL (default 64 MiB). */
  maxWriteQueueBytes?: number;
  /**
   * Run request handlers one at a time in arrival order, as vfio-user requires of a server
   * (default true). Replies are always processed at once, so a handler may await its own requests.
   */
  serializeRequests?: boolean;
  /** Incoming requests buffered behind a busy handler before reading pauses (default 1024). */
  maxQueuedRequests?: number;
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

const DEFAULT_TIMEOUT_MS = 5000;
const SKIP_CHUNK = 64 * 1024;
/** Messages read per readiness callback before yielding to the rest of the event loop. */
const READ_BURST = 128;

interface Pending {
  command: number;
  acceptFds: number;
  resolve(message: ChannelMessage): void;
  reject(error: TransportError): void;
  /** performance.now() after which the request fails with TIMEOUT (Infinity: never). */
  deadline: number;
  timeoutMs: number;
  cleanup: (() => void) | undefined;
}

interface Outgoing {
  parts: Uint8Array[];
  total: number;
  written: number;
  /** Raw fds still to send with the first byte; owned (dups) when `ownsFds`. */
  fds: number[];
  ownsFds: boolean;
  resolve(): void;
  reject(error: TransportError): void;
}

class ReceivedMessage implements ChannelMessage {
  readonly header: MessageHeader;
  readonly payload: Uint8Array;
  readonly fds: number[];
  #taken = false;

  constructor(message: FramedMessage) {
    this.header = message.header;
    this.payload = message.payload;
    this.fds = message.fds;
  }

  takeFds(): OwnedFd[] {
    if (this.#taken) return [];
    this.#taken = true;
    return OwnedFd.adoptAll(this.fds);
  }

  /** Closes fds nobody took. */
  closeUntaken(): void {
    if (this.#taken) return;
    this.#taken = true;
    closeFdsQuietly(this.fds);
  }
}

function describeCommand(command: number): string {
  return commandName(command) ?? `command ${command}`;
}

function partsOf(payload: Payload | undefined): Uint8Array[] {
  if (payload === undefined) return [];
  if (payload instanceof Uint8Array) return payload.byteLength === 0 ? [] : [payload];
  return payload.filter((p) => p.byteLength > 0);
}

function rawFds(fds: readonly FdLike[] | undefined): number[] {
  if (fds === undefined || fds.length === 0) return [];
  return fds.map((fd) => (typeof fd === 'number' ? fd : fd.fd));
}

/** errno for an error reply from whatever a handler threw. */
function errnoOf(error: unknown): number | undefined {
  if (isProtocolError(error)) return error.errno;
  const errno = (error as { errno?: unknown } | null)?.errno;
  if (typeof errno === 'number' && Number.isInteger(errno) && errno > 0 && errno < 4096) return errno;
  return undefined;
}

/**
 * A vfio-user message channel over one connected UNIX stream socket: whole messages with their
 * fds in both directions, replies matched to requests by message id, requests from the peer
 * handed to a handler, limits enforced before anything is buffered.
 *
 * Reading is message-exact: the channel reads the 16-byte header, then exactly the body, so a
 * read never spans two messages and fds are attributed to the message they were sent with (the
 * kernel may otherwise deliver one message's tail together with the next one's fds).
 */
export class Channel extends EventEmitter<ChannelEvents> {
  readonly #socket: UnixSocket;
  readonly #framer: MessageFramer;
  #receiveLimits: FramerLimits;
  #sendLimits: FramerLimits;
  readonly #requestTimeoutMs: number;
  readonly #highWaterMark: number;
  readonly #maxWriteQueueBytes: number;
  readonly #serialize: boolean;
  readonly #maxQueuedRequests: number;

  readonly #pending = new Map<number, Pending>();
  /** Ids of requests that timed out or were aborted: their late replies are dropped quietly. */
  readonly #abandoned = new Set<number>();
  #nextMsgId = 1;
  #timeoutTimer: ReturnType<typeof setTimeout> | undefined;
  #timeoutAt = Number.POSITIVE_INFINITY;

  readonly #writeQueue: Outgoing[] = [];
  #queuedBytes = 0;
  #needDrain = false;

  #handler: RequestHandler | undefined;
  readonly #requestQueue: ReceivedMessage[] = [];
  #handling = false;
  #readPaused = false;

  // Message-exact read state.
  #header = new Uint8Array(HEADER_SIZE);
  #headerFilled = 0;
  #body: Uint8Array | undefined;
  #bodyFilled = 0;
  #skipRemaining = 0;
  #bodyFds: number[] = [];

  #closing: Promise<void> | undefined;
  /** Resolves `#closing` once the socket is closed. */
  #closed: (() => void) | undefined;
  #destroyed = false;

  /** Wraps a connected socket; the channel owns it from now on. */
  constructor(socket: UnixSocket, options: ChannelOptions = {}) {
    super();
    this.#socket = socket;
    this.#receiveLimits = { ...(options.receiveLimits ?? DEFAULT_RECEIVE_LIMITS) };
    this.#sendLimits = { ...(options.sendLimits ?? DEFAULT_RECEIVE_LIMITS) };
    this.#framer = newFramer(this.#receiveLimits);
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#highWaterMark = options.writeHighWaterMark ?? 1024 * 1024;
    this.#maxWriteQueueBytes = options.maxWriteQueueBytes ?? 64 * 1024 * 1024;
    this.#serialize = options.serializeRequests ?? true;
    this.#maxQueuedRequests = options.maxQueuedRequests ?? 1024;
    socket.onReadable(() => this.#onReadable());
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
    return this.#queuedBytes;
  }

  /** True while more than `writeHighWaterMark` bytes are queued; wait for 'drain'. */
  get writableNeedDrain(): boolean {
    return this.#needDrain;
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
      this.#framer.setLimits(limits);
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

  /** Sets (or with null removes) the handler of incoming commands. */
  onRequest(handler: RequestHandler | null): void {
    this.#handler = handler ?? undefined;
    this.#pumpRequests();
  }

  /**
   * Sends a command and resolves with its reply. Rejects with ERROR_REPLY (carrying the peer's
   * errno, the command and msgId) when the reply has the Error flag, TIMEOUT, ABORTED,
   * LIMIT_EXCEEDED, UNEXPECTED_FDS, PEER_CLOSED or CLOSED.
   */
  request(command: number, payload?: Payload, options: RequestOptions = {}): Promise<ChannelMessage> {
    if (this.closed) return Promise.reject(this.#closedError(command));
    const msgId = this.#allocateMsgId();
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
      const pending: Pending = {
        command,
        acceptFds: options.acceptFds ?? 0,
        resolve,
        reject,
        deadline: Number.POSITIVE_INFINITY,
        timeoutMs: options.timeoutMs ?? this.#requestTimeoutMs,
        cleanup: undefined,
      };
      sent.catch((error: TransportError) => {
        if (this.#settle(msgId, pending)) pending.reject(error);
      });
      this.#pending.set(msgId, pending);
      this.#abandoned.delete(msgId);
      if (pending.timeoutMs > 0) {
        pending.deadline = performance.now() + pending.timeoutMs;
        this.#armTimeouts(pending.deadline);
      }
      const signal = options.signal;
      if (signal) {
        const onAbort = () => {
          this.#abandon(msgId, pending);
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
    const msgId = this.#allocateMsgId() ?? this.#nextMsgId;
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
    this.#socket.onReadable(null);
    this.#failPending(() => new TransportError('CLOSED', 'channel closed before the reply arrived'));
    if (this.#writeQueue.length === 0) this.#destroy(undefined);
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
   * Queues one message. Problems found before anything is written come back as a TransportError
   * (not a rejected promise) so callers can fail just that operation.
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
    const out: Omit<Outgoing, 'resolve' | 'reject'> = {
      parts: [head, ...parts],
      total: msgSize,
      written: 0,
      fds: raw,
      ownsFds: false,
    };
    if (this.#writeQueue.length === 0) {
      // Fast path: straight to the kernel, no queue, no fd duplication.
      try {
        out.written = this.#socket.sendmsg(out.parts, raw);
      } catch (cause) {
        // EBADF here names one of the caller's fds (the socket is ours and open): nothing was
        // sent, so only this message fails.
        if (isSysError(cause) && cause.errno === 9) {
          return new TransportError('INVALID_ARGUMENT', 'an fd to send is not open', {
            ...ctx,
            errno: 9,
            cause,
          });
        }
        const error = this.#writeFailed(cause, ctx);
        this.#destroy(error);
        return error;
      }
      if (out.written === out.total) return Promise.resolve();
      if (out.written > 0) out.fds = [];
    }
    if (this.#queuedBytes + (out.total - out.written) > this.#maxWriteQueueBytes && out.written === 0) {
      return new TransportError(
        'WRITE_QUEUE_FULL',
        `write queue holds ${this.#queuedBytes} bytes; the peer is not reading`,
        ctx,
      );
    }
    if (out.fds.length > 0) {
      // The caller may close its fds as soon as we return: queue our own duplicates.
      const dups: number[] = [];
      try {
        for (const fd of out.fds) dups.push(new OwnedFd(fd).dup().release());
      } catch (cause) {
        closeFdsQuietly(dups);
        return new TransportError('SOCKET_ERROR', 'could not duplicate an fd to send', { ...ctx, cause });
      }
      out.fds = dups;
      out.ownsFds = true;
    }
    return new Promise<void>((resolve, reject) => {
      this.#writeQueue.push({ ...out, resolve, reject });
      this.#queuedBytes += out.total - out.written;
      if (this.#queuedBytes > this.#highWaterMark) this.#needDrain = true;
      if (this.#writeQueue.length === 1) this.#socket.onWritable(() => this.#flush());
    });
  }

  #flush(): void {
    while (this.#writeQueue.length > 0) {
      const out = this.#writeQueue[0]!;
      const parts = remainingParts(out.parts, out.written);
      let n: number;
      try {
        n = this.#socket.sendmsg(parts, out.fds);
      } catch (cause) {
        this.#destroy(this.#writeFailed(cause, {}));
        return;
      }
      if (n === 0) return;
      if (out.fds.length > 0) {
        if (out.ownsFds) closeFdsQuietly(out.fds);
        out.fds = [];
      }
      out.written += n;
      this.#queuedBytes -= n;
      if (out.written < out.total) return;
      this.#writeQueue.shift();
      out.resolve();
    }
    this.#socket.onWritable(null);
    if (this.#needDrain) {
      this.#needDrain = false;
      this.emit('drain');
    }
    if (this.#closing) this.#destroy(undefined);
  }

  #writeFailed(cause: unknown, ctx: { command?: number; msgId?: number }): TransportError {
    const errno = isSysError(cause) ? cause.errno : undefined;
    const peerGone = errno === 32 /* EPIPE */ || errno === 104; /* ECONNRESET */
    return new TransportError(
      peerGone ? 'PEER_CLOSED' : 'SOCKET_ERROR',
      peerGone ? 'peer closed the connection' : `socket write failed: ${String(cause)}`,
      { ...ctx, ...(errno === undefined ? {} : { errno }), cause },
    );
  }

  #allocateMsgId(): number | undefined {
    for (let tries = 0; tries <= 0xffff; tries++) {
      const id = this.#nextMsgId;
      this.#nextMsgId = (this.#nextMsgId + 1) & 0xffff;
      if (!this.#pending.has(id) && (!this.#abandoned.has(id) || tries > 0x7fff)) return id;
    }
    return undefined;
  }

  #settle(msgId: number, pending: Pending): Pending | undefined {
    if (this.#pending.get(msgId) !== pending) return undefined;
    this.#pending.delete(msgId);

    pending.cleanup?.();
    return pending;
  }

  #abandon(msgId: number, pending: Pending): void {
    if (this.#settle(msgId, pending)) this.#abandoned.add(msgId);
  }

  /**
   * One timer per channel for all request timeouts (a timer per request costs more than the round
   * trip itself): armed for the earliest deadline, it fails what has expired and re-arms.
   */
  #armTimeouts(deadline: number): void {
    if (this.#timeoutTimer !== undefined && this.#timeoutAt <= deadline) return;
    clearTimeout(this.#timeoutTimer);
    this.#timeoutAt = deadline;
    this.#timeoutTimer = setTimeout(() => this.#expireRequests(), Math.max(0, deadline - performance.now()));
    this.#timeoutTimer.unref();
  }

  #expireRequests(): void {
    this.#timeoutTimer = undefined;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [msgId, pending] of [...this.#pending]) {
      if (pending.deadline <= now) {
        this.#abandon(msgId, pending);
        const { command, timeoutMs } = pending;
        pending.reject(
          new TransportError(
            'TIMEOUT',
            `no reply to ${describeCommand(command)} (msg_id ${msgId}) within ${timeoutMs} ms`,
            { command, msgId, errno: Errno.ETIMEDOUT },
          ),
        );
      } else if (pending.deadline < next) {
        next = pending.deadline;
      }
    }
    if (next !== Number.POSITIVE_INFINITY && !this.#destroyed) this.#armTimeouts(next);
  }

  #failPending(makeError: (p: Pending, msgId: number) => TransportError): void {
    for (const [msgId, pending] of [...this.#pending]) {
      this.#settle(msgId, pending);
      const error = makeError(pending, msgId);
      pending.reject(
        new TransportError(
          error.code,
          `${describeCommand(pending.command)} (msg_id ${msgId}): ${error.message}`,
          {
            command: pending.command,
            msgId,
            ...(error.errno === undefined ? {} : { errno: error.errno }),
            cause: error.cause ?? error,
          },
        ),
      );
    }
  }

  #closedError(command?: number, msgId?: number): TransportError {
    return new TransportError('CLOSED', 'channel is closed', {
      ...(command === undefined ? {} : { command }),
      ...(msgId === undefined ? {} : { msgId }),
    });
  }

  // ---- receiving -----------------------------------------------------------------------------

  #onReadable(): void {
    for (let burst = 0; burst < READ_BURST && !this.#destroyed && !this.#readPaused; ) {
      const target = this.#readTarget();
      let chunk: ReturnType<UnixSocket['recvmsg']>;
      try {
        // One more than allowed, so an excess reaches the framer and is reported, not hidden.
        chunk = this.#socket.recvmsg(target, this.#receiveLimits.maxFdsPerMessage + 1);
      } catch (cause) {
        const code = isSysError(cause) && cause.errno === 104 ? 'PEER_CLOSED' : 'SOCKET_ERROR';
        this.#destroy(new TransportError(code, `socket read failed: ${String(cause)}`, { cause }));
        return;
      }
      if (chunk === null) return;
      if (chunk.bytes === 0) {
        const midMessage = this.#headerFilled > 0 || this.#body !== undefined || this.#skipRemaining > 0;
        this.#destroy(
          new TransportError(
            'PEER_CLOSED',
            midMessage
              ? 'peer closed the connection in the middle of a message'
              : 'peer closed the connection',
          ),
        );
        return;
      }
      const fds = chunk.fds.map((fd) => fd.release());
      if (chunk.droppedFds > 0) {
        this.emit(
          'warning',
          new TransportError(
            'PROTOCOL_VIOLATION',
            `closed ${chunk.droppedFds} fds beyond the per-message limit`,
          ),
        );
      }
      this.#consume(target, chunk.bytes, fds);
      burst++;
      // A short read means the socket is drained; the level-triggered poll calls again when not.
      if (chunk.bytes < target.byteLength) return;
    }
  }

  /** Where the next read goes: the rest of the header, of the body, or a skip buffer. */
  #readTarget(): Uint8Array {
    if (this.#skipRemaining > 0) return new Uint8Array(Math.min(this.#skipRemaining, SKIP_CHUNK));
    if (this.#body !== undefined) return this.#body.subarray(this.#bodyFilled);
    return this.#header.subarray(this.#headerFilled);
  }

  /** Accounts for `n` bytes just read into `target`. */
  #consume(target: Uint8Array, n: number, fds: number[]): void {
    if (this.#skipRemaining > 0) {
      // Skipping an oversize body: the framer discards these bytes as they come.
      this.#skipRemaining -= n;
      this.#pushToFramer(target.subarray(0, n), fds);
      return;
    }
    if (this.#body === undefined) {
      this.#headerFilled += n;
      if (fds.length > 0) this.#bodyFds.push(...fds);
      if (this.#headerFilled < HEADER_SIZE) return;
      const header = this.#header;
      const msgSize = new DataView(header.buffer, header.byteOffset, HEADER_SIZE).getUint32(4, true);
      const bodySize = msgSize - HEADER_SIZE;
      if (bodySize <= 0 || msgSize > this.#receiveLimits.maxMessageSize) {
        // Header-only, malformed, or oversize: the framer decides; oversize bodies are skipped.
        this.#pushToFramer(header, this.#takeBodyFds());
        this.#resetHeader();
        this.#skipRemaining = Math.max(0, bodySize);
        return;
      }
      this.#body = new Uint8Array(bodySize);
      this.#bodyFilled = 0;
      return;
    }
    this.#bodyFilled += n;
    if (fds.length > 0) this.#bodyFds.push(...fds);
    if (this.#bodyFilled < this.#body.byteLength) return;
    const body = this.#body;
    this.#body = undefined;
    // Header and body go in together so the framer returns the body itself as the payload.
    this.#pushToFramer(this.#header, this.#takeBodyFds(), body);
    this.#resetHeader();
  }

  #takeBodyFds(): number[] {
    const fds = this.#bodyFds;
    this.#bodyFds = [];
    return fds;
  }

  #resetHeader(): void {
    this.#header = new Uint8Array(HEADER_SIZE);
    this.#headerFilled = 0;
  }

  #pushToFramer(chunk: Uint8Array, fds: number[], body?: Uint8Array): void {
    this.#framer.push(chunk, fds);
    if (body !== undefined) this.#framer.push(body);
    for (let event = this.#framer.next(); event !== undefined; event = this.#framer.next()) {
      this.#onFramerEvent(event);
      if (this.#destroyed) return;
    }
  }

  #onFramerEvent(event: FramerEvent): void {
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
        if (pending && this.#settle(header.msgId, pending)) pending.reject(violation);
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
    else this.#onCommand(message);
  }

  #onReply(message: ReceivedMessage): void {
    const { msgId, command, error, errorNo } = message.header;
    const pending = this.#pending.get(msgId);
    if (!pending) {
      message.closeUntaken();
      if (this.#abandoned.delete(msgId)) return;
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
    this.#settle(msgId, pending);
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
          { ...ctx, errno },
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

  #onCommand(message: ReceivedMessage): void {
    if (!this.#handler) {
      const { command, msgId, noReply } = message.header;
      message.closeUntaken();
      this.emit(
        'warning',
        new TransportError(
          'HANDLER_FAILED',
          `no request handler for ${describeCommand(command)} (msg_id ${msgId})`,
          {
            command,
            msgId,
            errno: Errno.EINVAL,
          },
        ),
      );
      if (!noReply) this.#sendErrorReply(message.header, Errno.EINVAL);
      return;
    }
    this.#requestQueue.push(message);
    if (this.#requestQueue.length >= this.#maxQueuedRequests && !this.#readPaused) {
      // Backpressure towards the peer: stop reading until the handler catches up.
      this.#readPaused = true;
      this.#socket.onReadable(null);
    }
    this.#pumpRequests();
  }

  #pumpRequests(): void {
    while (this.#handler && this.#requestQueue.length > 0 && !(this.#serialize && this.#handling)) {
      if (this.#destroyed) return;
      const message = this.#requestQueue.shift()!;
      if (this.#readPaused && this.#requestQueue.length <= this.#maxQueuedRequests / 2) {
        this.#readPaused = false;
        this.#socket.onReadable(() => this.#onReadable());
      }
      const running = this.#dispatch(this.#handler, message);
      if (running && this.#serialize) {
        // An async handler: the next request waits for it to settle.
        this.#handling = true;
        void running.then(() => {
          this.#handling = false;
          this.#pumpRequests();
        });
      }
    }
  }

  /**
   * Runs the handler for one request and sends its reply. Synchronous handlers are answered
   * synchronously (no promise hops on the hot path); returns a promise only for async ones.
   */
  #dispatch(handler: RequestHandler, message: ReceivedMessage): Promise<void> | undefined {
    let result: ReturnType<RequestHandler>;
    try {
      result = handler(message);
    } catch (error) {
      message.closeUntaken();
      this.#handlerFailed(message.header, error);
      return undefined;
    }
    if (result instanceof Promise) {
      return result.then(
        (reply) => {
          message.closeUntaken();
          this.#reply(message.header, reply);
        },
        (error: unknown) => {
          message.closeUntaken();
          this.#handlerFailed(message.header, error);
        },
      );
    }
    message.closeUntaken();
    this.#reply(message.header, result);
    return undefined;
  }

  #handlerFailed(header: MessageHeader, failure: unknown): void {
    const errno = errnoOf(failure);
    if (errno === undefined) {
      this.emit(
        'warning',
        new TransportError(
          'HANDLER_FAILED',
          `handler for ${describeCommand(header.command)} threw: ${String(failure)}`,
          {
            command: header.command,
            msgId: header.msgId,
            cause: failure,
          },
        ),
      );
    }
    if (!header.noReply) this.#sendErrorReply(header, errno ?? Errno.EIO);
  }

  #reply(header: MessageHeader, reply: ReplyBody | undefined): void {
    if (header.noReply || this.closed) return;
    const replyHeader: RawHeader = { msgId: header.msgId, command: header.command, type: 'reply' };
    const sent = this.#send(replyHeader, reply?.payload, reply?.fds);
    if (sent instanceof TransportError) {
      this.emit('warning', sent);
      if (!this.closed)
        this.#sendErrorReply(header, sent.code === 'LIMIT_EXCEEDED' ? Errno.E2BIG : Errno.EINVAL);
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
    // Only fails when the channel is going down; 'close' reports that.
    if (!(sent instanceof TransportError)) sent.catch(() => {});
  }

  // ---- teardown ------------------------------------------------------------------------------

  #destroy(error: TransportError | undefined): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    clearTimeout(this.#timeoutTimer);
    this.#timeoutTimer = undefined;
    const reason = error ?? new TransportError('CLOSED', 'channel closed');
    this.#failPending(() => reason);
    for (const out of this.#writeQueue.splice(0)) {
      if (out.ownsFds) closeFdsQuietly(out.fds);
      out.reject(new TransportError(reason.code, `message not sent: ${reason.message}`, { cause: reason }));
    }
    this.#queuedBytes = 0;
    for (const message of this.#requestQueue.splice(0)) message.closeUntaken();
    closeFdsQuietly(this.#takeBodyFds());
    closeFdsQuietly(this.#framer.drain().fds);
    this.#body = undefined;
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

function newFramer(limits: FramerLimits): MessageFramer {
  try {
    return new MessageFramer(limits);
  } catch (cause) {
    throw new TransportError('INVALID_ARGUMENT', `bad receive limits: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** The parts of a message after its first `offset` bytes, without copying. */
function remainingParts(parts: readonly Uint8Array[], offset: number): Uint8Array[] {
  if (offset === 0) return parts as Uint8Array[];
  const out: Uint8Array[] = [];
  let skip = offset;
  for (const p of parts) {
    if (skip >= p.byteLength) {
      skip -= p.byteLength;
      continue;
    }
    out.push(skip > 0 ? p.subarray(skip) : p);
    skip = 0;
  }
  return out;
}
