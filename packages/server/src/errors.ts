/**
 * Errors of the vfio-user server endpoint. Host-side misuse (bad options, a socket path already
 * served, a bus id already taken) throws a {@link ServerError}. Inside a connection, the same class
 * carries the errno of the error reply a rejected request gets: handlers throw it, the dispatcher
 * answers with `errno` and the endpoint keeps serving.
 */
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

/** Context fields of a {@link ServerError}. */
export interface ServerErrorContext {
  /** Endpoint (root bus) id. */
  endpoint?: string;
  /** Socket path concerned. */
  socketPath?: string;
  /** vfio-user command number of the request concerned. */
  command?: number;
  /** Linux errno sent in the error reply (or seen from the client). */
  errno?: number;
  cause?: unknown;
}

/** A typed server error with a code from a closed list and its context. */
export class ServerError extends Error {
  override readonly name = 'ServerError';
  readonly code: ServerErrorCode;
  readonly endpoint: string | undefined;
  readonly socketPath: string | undefined;
  readonly command: number | undefined;
  /** Positive Linux errno of the error reply; set for `request-rejected` and `dma-failed`. */
  readonly errno: number | undefined;

  constructor(code: ServerErrorCode, message: string, context: ServerErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.endpoint = context.endpoint;
    this.socketPath = context.socketPath;
    this.command = context.command;
    this.errno = context.errno;
  }
}

/** Shape guard for {@link ServerError} (works across copies of the package). */
export function isServerError(e: unknown): e is ServerError {
  return (
    e instanceof Error &&
    (e as { name?: unknown }).name === 'ServerError' &&
    typeof (e as { code?: unknown }).code === 'string'
  );
}

/** A rejected request: the error reply will carry `errno` (EINVAL unless said otherwise). */
export function reject(message: string, errno: number = Errno.EINVAL, command?: number): ServerError {
  return new ServerError('request-rejected', message, {
    errno,
    ...(command === undefined ? {} : { command }),
  });
}

/** Formats a number as 0x-prefixed hex, for messages. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}
