/**
 * Errors of the vfio-user server endpoint. Host-side misuse (bad options, a socket path already
 * served, a bus id already taken) throws a {@link ServerError}. Inside a connection, the same class
 * carries the errno of the error reply a rejected request gets: handlers throw it, the dispatcher
 * answers with `errno` and the endpoint keeps serving.
 */
import { isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';
import { Errno } from '@vfu/protocol';

/** Every way the server reports a failure. */
export type ServerErrorCode =
  /** A constructor or method argument is malformed (message says which). */
  | 'invalid-option'
  /** The root bus id is already used in the DeviceTree. */
  | 'bus-id-taken'
  /** Another live server listens on the socket path, or the path is not a socket. */
  | 'socket-in-use'
  /** The socket could not be created (permissions, path too long...). */
  | 'listen-failed'
  /** `start()` on an endpoint already listening. */
  | 'already-started'
  /** The endpoint was closed. */
  | 'closed'
  /** A client request was refused; `errno` is what the error reply carries. */
  | 'request-rejected'
  /** A DMA access served by DMA_READ/DMA_WRITE messages failed (client error reply, timeout, gone). */
  | 'dma-failed';

/** Context of a {@link ServerError}, as its one `context` field. */
export interface ServerErrorContext extends VfuErrorContext {
  /** Endpoint (root bus) id. */
  endpoint?: string;
  /** Socket path concerned. */
  socketPath?: string;
  /** vfio-user command number of the request concerned. */
  command?: number;
  /** Linux errno sent in the error reply (or seen from the client); set for `request-rejected` and `dma-failed`. */
  errno?: number;
}

/** A typed server error with a code from a closed list; `endpoint` and `command` read its context. */
export class ServerError extends VfuError<ServerErrorCode, ServerErrorContext> {
  override readonly name = 'ServerError';

  /** Endpoint (root bus) id. */
  get endpoint(): string | undefined {
    return this.context.endpoint;
  }

  /** vfio-user command number of the request concerned. */
  get command(): number | undefined {
    return this.context.command;
  }
}

/** Shape guard for {@link ServerError} (works across copies of the package). */
export function isServerError(e: unknown): e is ServerError {
  return isVfuError(e, 'ServerError');
}

/** A rejected request: the error reply will carry `errno` (EINVAL unless said otherwise). */
export function reject(message: string, errno: number = Errno.EINVAL, command?: number): ServerError {
  return new ServerError('request-rejected', message, {
    errno,
    ...(command === undefined ? {} : { command }),
  });
}
