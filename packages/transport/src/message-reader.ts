/**
 * The receive side of a channel: reads the peer's byte stream message by message and hands each
 * complete message (or rejection) to the channel, with the fds that came with it.
 *
 * Reading is message-exact: the 16-byte header, then exactly the body, so a read never spans two
 * messages and fds are attributed to the message they were sent with (the kernel may otherwise
 * deliver one message's tail together with the next one's fds). The reader also bounds what a
 * peer can make it hold: fds per unfinished message and per connection, and the time one message
 * may take to arrive.
 */
import {
  Errno,
  type FramerEvent,
  type FramerLimits,
  HEADER_SIZE,
  MessageFramer,
  ProtocolError,
} from '@vfu/protocol';
import { closeFdsQuietly, isSysError, type OwnedFd } from '@vfu/sys';
import { TransportError } from './errors';

/**
 * What the reader needs from a socket (`@vfu/sys` UnixSocket fits): a non-blocking `recvmsg`
 * into a given buffer and a level-triggered readability callback.
 */
export interface ByteSource {
  /** Reads into `buffer`; null when nothing is waiting, `bytes` 0 at end of stream. */
  recvmsg(
    buffer: Uint8Array,
    maxFds: number,
  ): { bytes: number; fds: readonly OwnedFd[]; droppedFds: number } | null;
  /** Calls `callback` while data (or end of stream) is waiting; null stops. */
  onReadable(callback: (() => void) | null): void;
}

/**
 * Where a channel's received messages come from. {@link MessageReader} implements it over a
 * {@link ByteSource}; a native loop that receives whole messages can implement it directly.
 */
export interface MessageSource {
  /** Starts delivering to `sink`; null pauses reading (backpressure towards the peer). */
  setSink(sink: MessageSink | null): void;
  /** Limits for the next messages (after VERSION). Throws ProtocolError for nonsense. */
  setLimits(limits: FramerLimits): void;
  /** Releases every fd and buffer held for unfinished messages; no event follows. */
  dispose(): void;
}

/** What a {@link MessageSource} delivers, in stream order. */
export interface MessageSink {
  /** One complete message, or one rejected message (the framer's event). */
  event(event: FramerEvent): void;
  /** The stream ended or failed: nothing more follows. */
  end(error: TransportError): void;
  /** A non-fatal anomaly (fds closed over a cap). */
  warning(error: TransportError): void;
  /** The raw bytes of each message as read, before validation (for captures). */
  tap?(parts: readonly Uint8Array[], fds: number): void;
}

/** Bounds a {@link MessageReader} enforces beyond the framer's limits. */
export interface MessageReaderOptions {
  /** A message whose first byte arrived longer ago than this without the rest ends the stream (0 = never). */
  messageTimeoutMs: number;
  /** Most received fds held at once by this connection, unfinished message and queued requests. */
  maxHeldFds: number;
  /** fds held elsewhere by the connection (received requests waiting for their handler). */
  heldElsewhere(): number;
}

const SKIP_CHUNK = 64 * 1024;
/** Messages read per readiness callback before yielding to the rest of the event loop. */
const READ_BURST = 128;

/** A {@link MessageSource} reading a {@link ByteSource}. */
export class MessageReader implements MessageSource {
  readonly #source: ByteSource;
  readonly #options: MessageReaderOptions;
  readonly #framer: MessageFramer;
  #limits: FramerLimits;
  #sink: MessageSink | undefined;
  #disposed = false;

  #header = new Uint8Array(HEADER_SIZE);
  #headerFilled = 0;
  #body: Uint8Array | undefined;
  #bodyFilled = 0;
  #skipRemaining = 0;
  /** fds of the unfinished message, not yet handed to the framer. */
  #bodyFds: number[] = [];
  /** fds the current message brought so far (also those already passed on while skipping). */
  #messageFds = 0;
  /** fds of the current message closed over a cap; the message is then refused. */
  #closedFds = 0;
  /** Counts messages started, so the stall timer knows whether the stream moved on. */
  #messageSeq = 0;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(source: ByteSource, limits: FramerLimits, options: MessageReaderOptions) {
    this.#source = source;
    this.#limits = { ...limits };
    this.#framer = new MessageFramer(this.#limits);
    this.#options = options;
  }

  setSink(sink: MessageSink | null): void {
    if (this.#disposed) return;
    this.#sink = sink ?? undefined;
    this.#source.onReadable(sink === null ? null : () => this.#onReadable());
  }

  setLimits(limits: FramerLimits): void {
    this.#framer.setLimits(limits);
    this.#limits = { ...limits };
  }

  /** True while part of a message has arrived and the rest has not. */
  get midMessage(): boolean {
    return this.#headerFilled > 0 || this.#body !== undefined || this.#skipRemaining > 0;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#sink = undefined;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    this.#source.onReadable(null);
    closeFdsQuietly(this.#takeBodyFds());
    closeFdsQuietly(this.#framer.drain().fds);
    this.#body = undefined;
  }

  #onReadable(): void {
    for (let burst = 0; burst < READ_BURST && this.#sink !== undefined; ) {
      const target = this.#readTarget();
      let chunk: ReturnType<ByteSource['recvmsg']>;
      try {
        // One more than allowed, so an excess reaches the framer and is reported, not hidden.
        chunk = this.#source.recvmsg(target, this.#limits.maxFdsPerMessage + 1);
      } catch (cause) {
        const code = isSysError(cause) && cause.errno === Errno.ECONNRESET ? 'PEER_CLOSED' : 'SOCKET_ERROR';
        this.#end(new TransportError(code, `socket read failed: ${String(cause)}`, { cause }));
        return;
      }
      if (chunk === null) break;
      if (chunk.bytes === 0) {
        this.#end(
          new TransportError(
            'PEER_CLOSED',
            this.midMessage
              ? 'peer closed the connection in the middle of a message'
              : 'peer closed the connection',
          ),
        );
        return;
      }
      if (chunk.droppedFds > 0) {
        this.#sink.warning(
          new TransportError(
            'PROTOCOL_VIOLATION',
            `closed ${chunk.droppedFds} fds beyond the per-message limit`,
          ),
        );
      }
      const fds = this.#admitFds(chunk.fds.map((fd) => fd.release()));
      this.#consume(target, chunk.bytes, fds);
      burst++;
      // A short read means the socket is drained; the level-triggered poll calls again when not.
      if (chunk.bytes < target.byteLength) break;
    }
    if (this.midMessage && this.#stallTimer === undefined && this.#options.messageTimeoutMs > 0) {
      this.#armStallTimer();
    }
  }

  /**
   * Keeps the fds a message may still bring and closes the rest at once: beyond one over the
   * per-message limit (the framer needs to see one too many to refuse the message) and beyond
   * what the connection may hold. A peer sending fds with every byte of a message that never
   * ends can then hold no more than these caps.
   */
  #admitFds(fds: number[]): number[] {
    if (fds.length === 0) return fds;
    const perMessage = this.#limits.maxFdsPerMessage + 1 - this.#messageFds;
    const perConnection =
      this.#options.maxHeldFds - this.#bodyFds.length - this.#framerHeldFds() - this.#options.heldElsewhere();
    const keep = Math.max(0, Math.min(fds.length, perMessage, perConnection));
    this.#messageFds += fds.length;
    if (keep === fds.length) return fds;
    closeFdsQuietly(fds.slice(keep));
    // Over the per-message limit the framer refuses the message itself (it sees one too many).
    if (perConnection <= perMessage) this.#closedFds += fds.length - keep;
    return fds.slice(0, keep);
  }

  /** fds passed to the framer for a message it is still skipping. */
  #framerHeldFds(): number {
    return this.#skipRemaining > 0 ? Math.min(this.#messageFds, this.#limits.maxFdsPerMessage + 1) : 0;
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
      if (this.#skipRemaining === 0) this.#messageDone();
      this.#push(target.subarray(0, n), fds);
      return;
    }
    if (this.#body === undefined) {
      if (this.#headerFilled === 0) this.#messageSeq++;
      this.#headerFilled += n;
      if (fds.length > 0) this.#bodyFds.push(...fds);
      if (this.#headerFilled < HEADER_SIZE) return;
      const header = this.#header;
      const msgSize = new DataView(header.buffer, header.byteOffset, HEADER_SIZE).getUint32(4, true);
      const bodySize = msgSize - HEADER_SIZE;
      if (bodySize <= 0 || msgSize > this.#limits.maxMessageSize) {
        // Header-only, malformed, or oversize: the framer decides; oversize bodies are skipped.
        const bodyFds = this.#takeBodyFds();
        const refused = this.#closedFds;
        this.#resetHeader();
        this.#skipRemaining = Math.max(0, bodySize);
        if (this.#skipRemaining === 0) this.#messageDone();
        this.#sink?.tap?.([header], bodyFds.length);
        this.#push(header, bodyFds, undefined, refused);
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
    const header = this.#header;
    const bodyFds = this.#takeBodyFds();
    const refused = this.#closedFds;
    this.#resetHeader();
    this.#messageDone();
    this.#sink?.tap?.([header, body], bodyFds.length);
    // Header and body go in together so the framer returns the body itself as the payload.
    this.#push(header, bodyFds, body, refused);
  }

  #messageDone(): void {
    this.#messageFds = 0;
    this.#closedFds = 0;
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

  /** Feeds the framer; `refused` > 0 turns the message completed here into an EMFILE rejection. */
  #push(chunk: Uint8Array, fds: number[], body?: Uint8Array, refused = 0): void {
    this.#framer.push(chunk, fds);
    if (body !== undefined) this.#framer.push(body);
    for (let event = this.#framer.next(); event !== undefined; event = this.#framer.next()) {
      if (refused > 0 && event.kind === 'message') {
        const { header, fds: kept } = event.message;
        const error = new ProtocolError(
          'too-many-fds',
          `closed ${refused} of its fds: the connection holds its cap of ${this.#options.maxHeldFds}`,
          { command: header.command, msgId: header.msgId, field: 'fds', errno: Errno.EMFILE },
        );
        this.#deliver({ kind: 'error', error, header, fds: kept, resync: true });
        continue;
      }
      this.#deliver(event);
    }
  }

  #deliver(event: FramerEvent): void {
    if (this.#sink === undefined) {
      // Disposed while delivering: the event's fds are ours to close.
      closeFdsQuietly(event.kind === 'message' ? event.message.fds : event.fds);
      return;
    }
    this.#sink.event(event);
  }

  #armStallTimer(): void {
    const seq = this.#messageSeq;
    const timeoutMs = this.#options.messageTimeoutMs;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      if (!this.midMessage || this.#sink === undefined) return;
      if (this.#messageSeq !== seq) {
        // Another message is under way: it gets its own full allowance.
        this.#armStallTimer();
        return;
      }
      this.#end(
        new TransportError(
          'TIMEOUT',
          `the peer sent part of a message and nothing completed it within ${timeoutMs} ms`,
          { errno: Errno.ETIMEDOUT },
        ),
      );
    }, timeoutMs);
    this.#stallTimer.unref();
  }

  #end(error: TransportError): void {
    const sink = this.#sink;
    this.#sink = undefined;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    this.#source.onReadable(null);
    sink?.end(error);
  }
}
