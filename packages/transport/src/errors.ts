import { isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';

/**
 * Why a transport operation failed:
 * - `TIMEOUT`: no reply within the request's timeout (errno ETIMEDOUT).
 * - `ABORTED`: the caller's AbortSignal fired before the reply.
 * - `CLOSED`: the channel was closed locally before the operation completed.
 * - `PEER_CLOSED`: the peer closed the connection or died.
 * - `SOCKET_ERROR`: the socket failed (see `cause`, a SysError).
 * - `ERROR_REPLY`: the peer answered with the Error flag; `errno` holds its error_no.
 * - `PROTOCOL_VIOLATION`: the peer sent something malformed (see `cause`, a ProtocolError).
 * - `UNEXPECTED_REPLY`: a reply matched no outstanding request.
 * - `UNEXPECTED_FDS`: a reply carried more fds than the request accepted (they were closed).
 * - `LIMIT_EXCEEDED`: an outgoing message breaks the peer's negotiated limits.
 * - `WRITE_QUEUE_FULL`: the peer does not read and the write queue is at its bound.
 * - `TOO_MANY_PENDING`: every message id is in use by an outstanding request.
 * - `HANDLER_FAILED`: a request handler threw something that is not a protocol error.
 * - `ADDRESS_IN_USE`: `listen` found a live socket or a non-socket file at the path.
 * - `LISTEN_FAILED` / `CONNECT_FAILED`: the socket could not be set up (see `errno`, `cause`).
 * - `INVALID_ARGUMENT`: a caller-supplied value is out of its domain.
 */
export type TransportErrorCode =
  | 'TIMEOUT'
  | 'ABORTED'
  | 'CLOSED'
  | 'PEER_CLOSED'
  | 'SOCKET_ERROR'
  | 'ERROR_REPLY'
  | 'PROTOCOL_VIOLATION'
  | 'UNEXPECTED_REPLY'
  | 'UNEXPECTED_FDS'
  | 'LIMIT_EXCEEDED'
  | 'WRITE_QUEUE_FULL'
  | 'TOO_MANY_PENDING'
  | 'HANDLER_FAILED'
  | 'ADDRESS_IN_USE'
  | 'LISTEN_FAILED'
  | 'CONNECT_FAILED'
  | 'INVALID_ARGUMENT';

/** Context attached to a {@link TransportError}, as its one `context` field. */
export interface TransportErrorContext extends VfuErrorContext {
  /** Raw command number of the message concerned. */
  command?: number;
  /** Message id of the message concerned. */
  msgId?: number;
  /** Positive Linux errno: the peer's error_no for ERROR_REPLY, the failing syscall's otherwise. */
  errno?: number;
  /** Socket path concerned. */
  path?: string;
}

/** The one error type of `@vfu/transport`; `command`, `msgId` and `path` read its context. */
export class TransportError extends VfuError<TransportErrorCode, TransportErrorContext> {
  override readonly name = 'TransportError';

  /** Raw command number of the message concerned. */
  get command(): number | undefined {
    return this.context.command;
  }

  /** Message id of the message concerned. */
  get msgId(): number | undefined {
    return this.context.msgId;
  }

  /** Socket path concerned. */
  get path(): string | undefined {
    return this.context.path;
  }
}

/** True for a {@link TransportError}, also one from another copy of this package (checks shape). */
export function isTransportError(error: unknown): error is TransportError {
  return isVfuError(error, 'TransportError');
}
