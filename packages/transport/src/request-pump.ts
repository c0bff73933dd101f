/**
 * Commands from the peer: queued in arrival order, handed to the handler one at a time (as
 * vfio-user requires of a server) or all at once, and answered with the handler's reply or an
 * error reply. Reading pauses while too many wait, which pushes back on the peer. Handling runs in
 * bounded bursts (messages and bytes, request plus reply): past a burst the rest waits for the next
 * turn of the event loop, so one client's backlog of large reads cannot starve the others.
 */
import { errnoOf } from '@vfu/errors';
import { Errno, type MessageHeader } from '@vfu/protocol';
import type { FdLike } from '@vfu/sys';
import { Deque } from './deque';
import { TransportError } from './errors';
import { type ChannelMessage, describeCommand, type ReceivedMessage } from './received-message';

/** Message bytes: one array, or several gathered into one message without copying. */
export type Payload = Uint8Array | readonly Uint8Array[];

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

/** What the pump needs from its channel. */
export interface RequestPumpHost {
  /** Sends the reply to `header` (not called for No_reply commands). */
  reply(header: MessageHeader, reply: ReplyBody | undefined): void;
  /** Sends an error reply with `errno` (not called for No_reply commands). */
  errorReply(header: MessageHeader, errno: number): void;
  warning(error: TransportError): void;
  /** Stops (true) or resumes (false) reading from the peer. */
  pauseReading(paused: boolean): void;
  readonly closed: boolean;
}

/** The incoming-command side of a channel. */
export class RequestPump {
  readonly #host: RequestPumpHost;
  readonly #serialize: boolean;
  readonly #maxQueued: number;
  readonly #queue = new Deque<ReceivedMessage>();
  readonly #burstMessages: number;
  readonly #burstBytes: number;
  #handler: RequestHandler | undefined;
  #handling = false;
  #paused = false;
  #heldFds = 0;
  /** Work done in the current burst. */
  #spentMessages = 0;
  #spentBytes = 0;
  /** The next burst, when one is scheduled. */
  #nextBurst: ReturnType<typeof setImmediate> | undefined;
  /** Resets the burst at the end of this turn of the event loop. */
  #turnEnd: ReturnType<typeof setImmediate> | undefined;

  constructor(
    host: RequestPumpHost,
    options: { serialize: boolean; maxQueued: number; burstMessages?: number; burstBytes?: number },
  ) {
    this.#host = host;
    this.#serialize = options.serialize;
    this.#maxQueued = options.maxQueued;
    this.#burstMessages = options.burstMessages ?? 64;
    this.#burstBytes = options.burstBytes ?? 1024 * 1024;
  }

  /** fds held by queued commands. */
  get heldFds(): number {
    return this.#heldFds;
  }

  setHandler(handler: RequestHandler | undefined): void {
    this.#handler = handler;
    this.#pump();
  }

  /** Takes one received command. */
  push(message: ReceivedMessage): void {
    if (!this.#handler) {
      const { command, msgId, noReply } = message.header;
      message.closeUntaken();
      this.#host.warning(
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
      if (!noReply) this.#host.errorReply(message.header, Errno.EINVAL);
      return;
    }
    this.#queue.push(message);
    this.#heldFds += message.fds.length;
    if (this.#queue.length >= this.#maxQueued && !this.#paused) {
      // Backpressure towards the peer: stop reading until the handler catches up.
      this.#paused = true;
      this.#host.pauseReading(true);
    }
    this.#pump();
  }

  /** Closes the fds of every queued command and forgets them. */
  clear(): void {
    for (const message of this.#queue.drain()) message.closeUntaken();
    this.#heldFds = 0;
    if (this.#nextBurst !== undefined) clearImmediate(this.#nextBurst);
    if (this.#turnEnd !== undefined) clearImmediate(this.#turnEnd);
    this.#nextBurst = undefined;
    this.#turnEnd = undefined;
  }

  #pump(): void {
    if (this.#nextBurst !== undefined) return;
    while (this.#handler && this.#queue.length > 0 && !(this.#serialize && this.#handling)) {
      if (this.#host.closed) return;
      if (this.#spentMessages >= this.#burstMessages || this.#spentBytes >= this.#burstBytes) {
        // Let the event loop serve other sockets (setImmediate runs after its poll phase).
        this.#spentMessages = 0;
        this.#spentBytes = 0;
        this.#nextBurst = setImmediate(() => {
          this.#nextBurst = undefined;
          this.#pump();
        });
        return;
      }
      const message = this.#queue.shift() as ReceivedMessage;
      this.#heldFds -= message.fds.length;
      if (this.#paused && this.#queue.length <= this.#maxQueued / 2) {
        this.#paused = false;
        this.#host.pauseReading(false);
      }
      const running = this.#dispatch(this.#handler, message);
      if (running && this.#serialize) {
        // An async handler: the next request waits for it to settle.
        this.#handling = true;
        void running.then(() => {
          this.#handling = false;
          this.#pump();
        });
      }
    }
  }

  /** Counts one handled message and its reply towards the burst of this turn of the event loop. */
  #spend(message: ReceivedMessage, reply: ReplyBody | undefined): void {
    if (this.#turnEnd === undefined) {
      // The next turn starts a fresh burst (messages arrive one by one, so "queue empty" is not it).
      this.#turnEnd = setImmediate(() => {
        this.#turnEnd = undefined;
        this.#spentMessages = 0;
        this.#spentBytes = 0;
      });
    }
    this.#spentMessages++;
    this.#spentBytes += message.payload.length + payloadBytes(reply?.payload);
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
      this.#spend(message, undefined);
      this.#failed(message.header, error);
      return undefined;
    }
    if (result instanceof Promise) {
      return result.then(
        (reply) => {
          message.closeUntaken();
          this.#spend(message, reply);
          if (!message.header.noReply) this.#host.reply(message.header, reply);
        },
        (error: unknown) => {
          message.closeUntaken();
          this.#spend(message, undefined);
          this.#failed(message.header, error);
        },
      );
    }
    message.closeUntaken();
    this.#spend(message, result);
    if (!message.header.noReply) this.#host.reply(message.header, result);
    return undefined;
  }

  #failed(header: MessageHeader, failure: unknown): void {
    const errno = errnoOf(failure);
    if (errno === undefined) {
      this.#host.warning(
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
    if (!header.noReply) this.#host.errorReply(header, errno ?? Errno.EIO);
  }
}

function payloadBytes(payload: Payload | undefined): number {
  if (payload === undefined) return 0;
  if (payload instanceof Uint8Array) return payload.byteLength;
  let n = 0;
  for (const p of payload) n += p.byteLength;
  return n;
}
