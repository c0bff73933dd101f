/**
 * The send side of a channel: messages go straight to the socket, and only what the socket does
 * not take is queued, in order, with the fds still to send. The queue is a ring (O(1) per
 * operation however long it gets) and is capped both by bytes and by message count: the count
 * bounds the per-message bookkeeping that bytes alone do not (a million 32-byte replies).
 */
import { Errno } from '@vfu/protocol';
import { closeFdsQuietly, isSysError, OwnedFd } from '@vfu/sys';
import { Deque } from './deque';
import { TransportError } from './errors';

/**
 * What the write queue needs from a socket (`@vfu/sys` UnixSocket fits): a non-blocking
 * gathered `sendmsg` and a writability callback. A native message loop can stand in for it.
 */
export interface MessageWriter {
  /**
   * Writes as much of `parts` as the socket takes now, `fds` with the first byte; returns the
   * bytes written (0 when it would block). Throws a SysError when the socket failed.
   */
  sendmsg(parts: readonly Uint8Array[], fds: readonly number[]): number;
  /** Calls `callback` whenever the socket is writable (null stops). */
  onWritable(callback: (() => void) | null): void;
}

/** Bounds of a {@link WriteQueue}. */
export interface WriteQueueLimits {
  /** Queued bytes above which `needDrain` is true until the queue empties. */
  highWaterMark: number;
  /** Most bytes queued. */
  maxBytes: number;
  /** Most messages queued. */
  maxMessages: number;
}

/** What the queue reports to its channel. */
export interface WriteQueueEvents {
  /** The queue emptied after having been above the high-water mark. */
  drain(): void;
  /** The queue emptied (any time); a closing channel finishes then. */
  empty(): void;
  /** The socket failed while flushing; the channel must go down with this error. */
  failed(error: TransportError): void;
}

/** Header fields identifying a message in errors. */
export interface MessageContext {
  command: number;
  msgId: number;
}

interface Outgoing {
  parts: readonly Uint8Array[];
  total: number;
  written: number;
  /** Raw fds still to send with the first byte; owned (dups) when `ownsFds`. */
  fds: number[];
  ownsFds: boolean;
  resolve(): void;
  reject(error: TransportError): void;
}

const RESOLVED = Promise.resolve();

/** Ordered, bounded outgoing messages over a {@link MessageWriter}. */
export class WriteQueue {
  readonly #writer: MessageWriter;
  readonly #limits: WriteQueueLimits;
  readonly #events: WriteQueueEvents;
  readonly #queue = new Deque<Outgoing>();
  #bytes = 0;
  #needDrain = false;

  constructor(writer: MessageWriter, limits: WriteQueueLimits, events: WriteQueueEvents) {
    this.#writer = writer;
    this.#limits = limits;
    this.#events = events;
  }

  /** Messages queued (not yet wholly written). */
  get length(): number {
    return this.#queue.length;
  }

  /** Bytes queued. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True while above the high-water mark; `drain` follows once the queue empties. */
  get needDrain(): boolean {
    return this.#needDrain;
  }

  /** The caps, for messages. */
  get limits(): Readonly<WriteQueueLimits> {
    return this.#limits;
  }

  /**
   * Writes one message now, or queues what the socket does not take. Returns a TransportError
   * (nothing sent) when the message cannot be accepted: WRITE_QUEUE_FULL at a cap,
   * INVALID_ARGUMENT for an fd that is not open, or the socket's failure (`fatal`: the caller
   * must close the channel). Otherwise resolves once the whole message is in the kernel.
   */
  send(
    ctx: MessageContext,
    parts: readonly Uint8Array[],
    total: number,
    fds: number[],
  ): Promise<void> | { error: TransportError; fatal: boolean } {
    let written = 0;
    let pendingFds = fds;
    if (this.#queue.length === 0) {
      // Fast path: straight to the kernel, no queue, no fd duplication.
      try {
        written = this.#writer.sendmsg(parts, fds);
      } catch (cause) {
        // EBADF here names one of the caller's fds (the socket is ours and open): nothing was
        // sent, so only this message fails.
        if (isSysError(cause) && cause.errno === Errno.EBADF) {
          const error = new TransportError('INVALID_ARGUMENT', 'an fd to send is not open', {
            ...ctx,
            errno: Errno.EBADF,
            cause,
          });
          return { error, fatal: false };
        }
        return { error: writeFailed(cause, ctx), fatal: true };
      }
      if (written === total) return RESOLVED;
      if (written > 0) pendingFds = [];
    }
    if (written === 0) {
      // A message partly written must be queued whatever the caps say: the stream needs its tail.
      const full = this.#fullReason(total);
      if (full !== undefined) {
        return { error: new TransportError('WRITE_QUEUE_FULL', full, ctx), fatal: false };
      }
    }
    let ownsFds = false;
    if (pendingFds.length > 0) {
      // The caller may close its fds as soon as we return: queue our own duplicates.
      const dups: number[] = [];
      try {
        for (const fd of pendingFds) dups.push(new OwnedFd(fd).dup().release());
      } catch (cause) {
        closeFdsQuietly(dups);
        const error = new TransportError('SOCKET_ERROR', 'could not duplicate an fd to send', {
          ...ctx,
          cause,
        });
        return { error, fatal: false };
      }
      pendingFds = dups;
      ownsFds = true;
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ parts, total, written, fds: pendingFds, ownsFds, resolve, reject });
      this.#bytes += total - written;
      if (this.#bytes > this.#limits.highWaterMark) this.#needDrain = true;
      if (this.#queue.length === 1) this.#writer.onWritable(() => this.#flush());
    });
  }

  /** Fails every queued message with `reason` and releases their fds. */
  clear(reason: TransportError): void {
    for (const out of this.#queue.drain()) {
      if (out.ownsFds) closeFdsQuietly(out.fds);
      out.reject(new TransportError(reason.code, `message not sent: ${reason.message}`, { cause: reason }));
    }
    this.#bytes = 0;
    this.#writer.onWritable(null);
  }

  /** Why a message of `total` bytes cannot be queued now, or undefined when it can. */
  #fullReason(total: number): string | undefined {
    const { maxBytes, maxMessages } = this.#limits;
    if (this.#queue.length >= maxMessages) {
      return `write queue holds ${this.#queue.length} messages (cap ${maxMessages}); the peer is not reading`;
    }
    if (this.#bytes + total > maxBytes) {
      return `write queue holds ${this.#bytes} bytes (cap ${maxBytes}); the peer is not reading`;
    }
    return undefined;
  }

  #flush(): void {
    for (let out = this.#queue.peek(); out !== undefined; out = this.#queue.peek()) {
      let n: number;
      try {
        n = this.#writer.sendmsg(remainingParts(out.parts, out.written), out.fds);
      } catch (cause) {
        this.#events.failed(writeFailed(cause, {}));
        return;
      }
      if (n === 0) return;
      if (out.fds.length > 0) {
        if (out.ownsFds) closeFdsQuietly(out.fds);
        out.fds = [];
      }
      out.written += n;
      this.#bytes -= n;
      if (out.written < out.total) return;
      this.#queue.shift();
      out.resolve();
    }
    this.#writer.onWritable(null);
    if (this.#needDrain) {
      this.#needDrain = false;
      this.#events.drain();
    }
    this.#events.empty();
  }
}

/** The error of a failed write: PEER_CLOSED when the peer is gone, SOCKET_ERROR otherwise. */
export function writeFailed(cause: unknown, ctx: { command?: number; msgId?: number }): TransportError {
  const errno = isSysError(cause) ? cause.errno : undefined;
  const peerGone = errno === Errno.EPIPE || errno === Errno.ECONNRESET;
  return new TransportError(
    peerGone ? 'PEER_CLOSED' : 'SOCKET_ERROR',
    peerGone ? 'peer closed the connection' : `socket write failed: ${String(cause)}`,
    { ...ctx, ...(errno === undefined ? {} : { errno }), cause },
  );
}

/** The parts of a message after its first `offset` bytes, without copying. */
function remainingParts(parts: readonly Uint8Array[], offset: number): readonly Uint8Array[] {
  if (offset === 0) return parts;
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
