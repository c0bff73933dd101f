/**
 * The client's typed request layer over its channel: `call(command, body)` resolves with the
 * decoded reply of that command, and every transport failure becomes a {@link ClientError}.
 */
import { type Command, Errno, type RequestOf } from '@vfu/protocol';
import type { FdLike } from '@vfu/sys';
import { type CallReply, type Channel, isTransportError } from '@vfu/transport';
import { ClientError, isClientError, VfioUserReplyError } from './errors';

/** Maps a transport failure (or anything else) of `command` to a ClientError. */
export function clientErrorFrom(error: unknown, command: number): ClientError {
  if (isClientError(error)) return error;
  if (isTransportError(error)) {
    const ctx = { command, cause: error, ...(error.msgId === undefined ? {} : { msgId: error.msgId }) };
    switch (error.code) {
      case 'ERROR_REPLY':
        return new VfioUserReplyError(command, error.errno ?? 0, error.msgId ?? 0, { cause: error });
      case 'PEER_CLOSED':
      case 'SOCKET_ERROR':
        return new ClientError('disconnected', `server connection lost: ${error.message}`, ctx);
      case 'CLOSED':
        return new ClientError('closed', `client closed: ${error.message}`, ctx);
      case 'TIMEOUT':
        return new ClientError('timeout', error.message, { ...ctx, errno: Errno.ETIMEDOUT });
      case 'PROTOCOL_VIOLATION':
      case 'UNEXPECTED_FDS':
        return new ClientError('bad-reply', error.message, ctx);
      case 'LIMIT_EXCEEDED':
      case 'INVALID_ARGUMENT':
        return new ClientError('invalid-argument', error.message, ctx);
      default:
        return new ClientError('transport', error.message, ctx);
    }
  }
  return new ClientError('transport', `${(error as Error)?.message ?? String(error)}`, {
    command,
    cause: error,
  });
}

/** Options of one {@link ClientLink.call}. */
export interface LinkCallOptions {
  fds?: readonly FdLike[];
  timeoutMs?: number;
  acceptFds?: number;
  /** IRQ index the request concerns, recorded in its errors. */
  irqIndex?: number;
}

/** Typed requests on a channel, with errors as ClientErrors. */
export class ClientLink {
  readonly channel: Channel;
  readonly #maxDataXferSize: number;
  readonly #isClosed: () => boolean;

  constructor(channel: Channel, maxDataXferSize: number, isClosed: () => boolean = () => false) {
    this.channel = channel;
    this.#maxDataXferSize = maxDataXferSize;
    this.#isClosed = isClosed;
  }

  /** Throws `closed` once the client is closed. */
  checkOpen(command: number): void {
    if (this.#isClosed()) throw new ClientError('closed', 'the client is closed', { command });
  }

  /** Sends `command` with `body` and resolves with its decoded reply. */
  async call<C extends Command>(
    command: C,
    body: RequestOf<C>,
    options: LinkCallOptions = {},
  ): Promise<CallReply<C>> {
    this.checkOpen(command);
    const { irqIndex, ...rest } = options;
    try {
      return await this.channel.call(command, body, { ...rest, maxDataXferSize: this.#maxDataXferSize });
    } catch (error) {
      const e = clientErrorFrom(error, command);
      // The context is this error's own object: record the IRQ index the caller knows.
      if (irqIndex !== undefined && e.irqIndex === undefined) Object.assign(e.context, { irqIndex });
      throw e;
    }
  }

  /** Sends `command` with No_reply; resolves once it is in the kernel. */
  async post<C extends Command>(command: C, body: RequestOf<C>): Promise<void> {
    this.checkOpen(command);
    try {
      await this.channel.callNoReply(command, body);
    } catch (error) {
      throw clientErrorFrom(error, command);
    }
  }
}
