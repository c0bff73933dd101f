/**
 * Commands from the peer: queued in arrival order, handed to the handler one at a time (as
 * vfio-user requires of a server) or all at once, and answered with the handler's reply or an
 * error reply. Reading pauses while too many wait, which pushes back on the peer.
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
  #handler: RequestHandler | undefined;
  #handling = false;
  #paused = false;
  #heldFds = 0;

  constructor(host: RequestPumpHost, options: { serialize: boolean; maxQueued: number }) {
    this.#host = host;
    this.#serialize = options.serialize;
    this.#maxQueued = options.maxQueued;
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
  }

  #pump(): void {
    while (this.#handler && this.#queue.length > 0 && !(this.#serialize && this.#handling)) {
      if (this.#host.closed) return;
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
      this.#failed(message.header, error);
      return undefined;
    }
    if (result instanceof Promise) {
      return result.then(
        (reply) => {
          message.closeUntaken();
          if (!message.header.noReply) this.#host.reply(message.header, reply);
        },
        (error: unknown) => {
          message.closeUntaken();
          this.#failed(message.header, error);
        },
      );
    }
    message.closeUntaken();
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
