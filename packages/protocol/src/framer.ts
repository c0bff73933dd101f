import { ProtocolError } from './errors';
import {
  HEADER_SIZE,
  HeaderFlags,
  type MessageHeader,
  type MessageType,
  readHeaderFields,
  validateHeaderFields,
} from './header';

/** A whole message as received: `payload` is a view onto received bytes, `fds` came with it. */
export interface FramedMessage {
  header: MessageHeader;
  /** The `msg_size - 16` bytes after the header; a view, not a copy, when it lay in one chunk. */
  payload: Uint8Array;
  fds: number[];
}

/** What the framer accepts per message. */
export interface FramerLimits {
  /** Largest `msg_size` (header included) that is buffered; larger messages are skipped. */
  maxMessageSize: number;
  /** Most fds one message may carry. */
  maxFdsPerMessage: number;
}

/** One result of {@link MessageFramer.next}. */
export type FramerEvent =
  | { kind: 'message'; message: FramedMessage }
  /**
   * A rejected message. The owner replies with `error.errno` when `header.type === 'command'`
   * and `!header.noReply`, and must close `fds`. `resync` says whether the stream is still in
   * sync (the message was skipped whole) or the connection must be closed.
   */
  | { kind: 'error'; error: ProtocolError; header?: MessageHeader; fds: number[]; resync: boolean };

type Phase = 'header' | 'body' | 'skip' | 'closed';

interface Current {
  header?: MessageHeader;
  /** Stream offset of the message's first byte. */
  start: number;
  msgSize: number;
  error?: ProtocolError;
}

/**
 * Cuts a vfio-user byte stream into messages. Feed bytes as they arrive, in any split, with the
 * fds that arrived with them; take events with {@link next} until it returns undefined.
 *
 * The header is checked before any body byte is kept: a message larger than `maxMessageSize`,
 * or with bad flags, is skipped as its bytes arrive and reported with `resync: true`. Only a
 * `msg_size` below 16 loses the stream (`resync: false`); the framer then stops.
 *
 * Chunks given to {@link push} are referenced, not copied, until their bytes are consumed, so
 * the caller must not reuse a chunk's memory afterwards. A payload that lies in one chunk is
 * returned as a view of it; one spanning chunks is copied once into an array of its size.
 */
export class MessageFramer {
  private limits: FramerLimits;
  private readonly chunks: Uint8Array[] = [];
  /** Bytes of `chunks[0]` already consumed. */
  private headOffset = 0;
  private buffered = 0;
  private received = 0;
  private consumed = 0;
  /** fds by the stream offset of the chunk they arrived with. */
  private readonly fdGroups: { at: number; fds: number[] }[] = [];
  private phase: Phase = 'header';
  private current: Current | undefined;
  private skipRemaining = 0;

  constructor(limits: FramerLimits) {
    this.limits = checkLimits(limits);
  }

  /** New limits (after VERSION negotiation); they apply from the next header parsed. */
  setLimits(limits: FramerLimits): void {
    this.limits = checkLimits(limits);
  }

  /**
   * Feeds bytes as they arrive, with the fds that arrived with them. The fds belong to the
   * message whose bytes start in this chunk, i.e. the first message not yet complete.
   */
  push(chunk: Uint8Array, fds?: readonly number[]): void {
    if (fds !== undefined && fds.length > 0) this.fdGroups.push({ at: this.received, fds: [...fds] });
    this.received += chunk.byteLength;
    if (this.phase === 'closed') {
      this.consumed += chunk.byteLength;
      return;
    }
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.byteLength;
    }
  }

  /** The next complete event, or undefined when more bytes are needed. */
  next(): FramerEvent | undefined {
    for (;;) {
      switch (this.phase) {
        case 'closed':
          return undefined;
        case 'header': {
          if (this.buffered < HEADER_SIZE) return undefined;
          const start = this.consumed;
          const fields = readHeaderFields(this.take(HEADER_SIZE));
          if (fields.msgSize < HEADER_SIZE) {
            // Without a usable size the next message boundary is unknown.
            this.phase = 'closed';
            const error = new ProtocolError(
              'bad-message-size',
              `msg_size ${fields.msgSize} is smaller than the 16-byte header; stream lost`,
              { command: fields.command, msgId: fields.msgId, field: 'msg_size' },
            );
            return { kind: 'error', error, fds: this.takeAllFds(), resync: false };
          }
          const current: Current = { start, msgSize: fields.msgSize };
          try {
            current.header = validateHeaderFields(fields);
          } catch (e) {
            current.error = e as ProtocolError;
            // Anything that is not a reply is answered as a command would be: a type of 2..15 gets
            // an EINVAL reply, as libvfio-user sends, rather than leaving the peer to time out.
            // `flags` keeps the raw bits for anyone who needs to tell the two apart.
            const typeBits = fields.flags & HeaderFlags.TypeMask;
            const type: MessageType = typeBits === HeaderFlags.TypeReply ? 'reply' : 'command';
            current.header = {
              ...fields,
              type,
              noReply: (fields.flags & HeaderFlags.NoReply) !== 0,
              error: (fields.flags & HeaderFlags.Error) !== 0,
            };
          }
          if (current.error === undefined && fields.msgSize > this.limits.maxMessageSize) {
            current.error = new ProtocolError(
              'message-too-large',
              `msg_size ${fields.msgSize} exceeds the limit of ${this.limits.maxMessageSize}`,
              { command: fields.command, msgId: fields.msgId, field: 'msg_size' },
            );
          }
          this.current = current;
          if (current.error !== undefined) {
            this.phase = 'skip';
            this.skipRemaining = fields.msgSize - HEADER_SIZE;
          } else {
            this.phase = 'body';
          }
          continue;
        }
        case 'body': {
          const cur = this.current as Current;
          const size = cur.msgSize - HEADER_SIZE;
          if (this.buffered < size) return undefined;
          const payload = this.take(size);
          const fds = this.takeFds(cur.start + cur.msgSize);
          const header = cur.header as MessageHeader;
          this.phase = 'header';
          this.current = undefined;
          if (fds.length > this.limits.maxFdsPerMessage) {
            const error = new ProtocolError(
              'too-many-fds',
              `${fds.length} fds attached, the limit is ${this.limits.maxFdsPerMessage}`,
              { command: header.command, msgId: header.msgId, field: 'fds' },
            );
            return { kind: 'error', error, header, fds, resync: true };
          }
          return { kind: 'message', message: { header, payload, fds } };
        }
        case 'skip': {
          const n = Math.min(this.skipRemaining, this.buffered);
          this.discard(n);
          this.skipRemaining -= n;
          if (this.skipRemaining > 0) return undefined;
          const cur = this.current as Current;
          const fds = this.takeFds(cur.start + cur.msgSize);
          this.phase = 'header';
          this.current = undefined;
          const event: FramerEvent = { kind: 'error', error: cur.error as ProtocolError, fds, resync: true };
          if (cur.header !== undefined) event.header = cur.header;
          return event;
        }
      }
    }
  }

  /**
   * Empties the framer for shutdown: the bytes still buffered and every fd held, which the
   * owner must close. The framer accepts no further messages afterwards.
   */
  drain(): { bufferedBytes: number; fds: number[] } {
    // The header of a message awaiting its body was already taken off the buffer.
    const bufferedBytes = this.buffered + (this.phase === 'body' ? HEADER_SIZE : 0);
    this.discard(this.buffered);
    this.phase = 'closed';
    this.current = undefined;
    return { bufferedBytes, fds: this.takeAllFds() };
  }

  /** Removes `n` buffered bytes and returns them, as a view when they lie in one chunk. */
  private take(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first !== undefined && first.byteLength - this.headOffset >= n) {
      const out = first.subarray(this.headOffset, this.headOffset + n);
      this.discard(n);
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0] as Uint8Array;
      const k = Math.min(n - filled, c.byteLength - this.headOffset);
      out.set(c.subarray(this.headOffset, this.headOffset + k), filled);
      filled += k;
      this.discard(k);
    }
    return out;
  }

  /** Drops `n` buffered bytes. */
  private discard(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.chunks[0] as Uint8Array;
      const avail = c.byteLength - this.headOffset;
      if (avail > left) {
        this.headOffset += left;
        break;
      }
      left -= avail;
      this.chunks.shift();
      this.headOffset = 0;
    }
    this.buffered -= n;
    this.consumed += n;
  }

  /** fds of every chunk that started before stream offset `end`. */
  private takeFds(end: number): number[] {
    const out: number[] = [];
    while (this.fdGroups.length > 0 && (this.fdGroups[0] as { at: number }).at < end) {
      out.push(...(this.fdGroups.shift() as { fds: number[] }).fds);
    }
    return out;
  }

  private takeAllFds(): number[] {
    const out: number[] = [];
    for (const g of this.fdGroups) out.push(...g.fds);
    this.fdGroups.length = 0;
    return out;
  }
}

function checkLimits(limits: FramerLimits): FramerLimits {
  const { maxMessageSize, maxFdsPerMessage } = limits;
  if (!Number.isSafeInteger(maxMessageSize) || maxMessageSize < HEADER_SIZE) {
    throw new ProtocolError('bad-value', `maxMessageSize ${maxMessageSize} is below the 16-byte header`, {
      field: 'maxMessageSize',
    });
  }
  if (!Number.isSafeInteger(maxFdsPerMessage) || maxFdsPerMessage < 0) {
    throw new ProtocolError('bad-value', `maxFdsPerMessage ${maxFdsPerMessage} is not a count`, {
      field: 'maxFdsPerMessage',
    });
  }
  return { maxMessageSize, maxFdsPerMessage };
}
