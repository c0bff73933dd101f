import { commandName, errnoName } from '@vfu/protocol';

/**
 * Why a client operation failed:
 * - `error-reply`: the server answered with the Error flag (see {@link VfioUserReplyError}).
 * - `disconnected`: the server closed the connection or died; pending requests fail with this.
 * - `closed`: the client was closed locally.
 * - `timeout`: no reply within the request timeout.
 * - `connect-failed`: the socket could not be connected.
 * - `handshake-failed`: VERSION negotiation failed (bad reply, incompatible capabilities).
 * - `bad-reply`: a reply did not decode or contradicts its request (count, index, size).
 * - `not-supported`: the device or the negotiated session lacks what was asked (no RESET flag,
 *   no such IRQ index, fd passing disabled...).
 * - `invalid-argument`: a caller-supplied value is out of its domain.
 * - `out-of-range`: an access outside a region, a guest memory object or a DMA mapping.
 * - `transport`: another transport failure (see `cause`).
 */
export type ClientErrorCode =
  | 'error-reply'
  | 'disconnected'
  | 'closed'
  | 'timeout'
  | 'connect-failed'
  | 'handshake-failed'
  | 'bad-reply'
  | 'not-supported'
  | 'invalid-argument'
  | 'out-of-range'
  | 'transport';

/** Context attached to a {@link ClientError}. */
export interface ClientErrorContext {
  /** vfio-user command number concerned. */
  command?: number;
  /** Message id of the request concerned. */
  msgId?: number;
  /** Positive errno (the server's error_no for `error-reply`). */
  errno?: number;
  /** Region index concerned. */
  region?: number;
  /** IRQ index concerned. */
  irqIndex?: number;
  /** Socket path concerned. */
  path?: string;
  cause?: unknown;
}

const CODES: ReadonlySet<string> = new Set<ClientErrorCode>([
  'error-reply',
  'disconnected',
  'closed',
  'timeout',
  'connect-failed',
  'handshake-failed',
  'bad-reply',
  'not-supported',
  'invalid-argument',
  'out-of-range',
  'transport',
]);

/** The error type of `@vfu/client`. */
export class ClientError extends Error {
  override readonly name: string = 'ClientError';
  readonly code: ClientErrorCode;
  readonly command: number | undefined;
  readonly msgId: number | undefined;
  readonly errno: number | undefined;
  readonly region: number | undefined;
  readonly irqIndex: number | undefined;
  readonly path: string | undefined;

  constructor(code: ClientErrorCode, message: string, context: ClientErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.command = context.command;
    this.msgId = context.msgId;
    this.errno = context.errno;
    this.region = context.region;
    this.irqIndex = context.irqIndex;
    this.path = context.path;
  }

  /** Name of {@link command} as the spec spells it (without `VFIO_USER_`), if known. */
  get commandName(): string | undefined {
    return this.command === undefined ? undefined : commandName(this.command);
  }
}

/**
 * An error reply from the server: the command failed there with `errno`. Always has code
 * `error-reply` and carries `command`, `errno` and `msgId`.
 */
export class VfioUserReplyError extends ClientError {
  override readonly name = 'VfioUserReplyError';
  declare readonly command: number;
  declare readonly errno: number;
  declare readonly msgId: number;

  constructor(
    command: number,
    errno: number,
    msgId: number,
    context: Omit<ClientErrorContext, 'command' | 'errno' | 'msgId'> = {},
  ) {
    super(
      'error-reply',
      `${commandName(command)} failed on the server: ${errnoName(errno)} (${errno}), msg_id ${msgId}`,
      {
        ...context,
        command,
        errno,
        msgId,
      },
    );
  }
}

/** True for a {@link ClientError}, also one from another copy of this package (checks the shape). */
export function isClientError(value: unknown): value is ClientError {
  if (value instanceof ClientError) return true;
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { name?: unknown; code?: unknown };
  return (
    (v.name === 'ClientError' || v.name === 'VfioUserReplyError') &&
    typeof v.code === 'string' &&
    CODES.has(v.code)
  );
}

/** True for a {@link VfioUserReplyError} (checks the shape). */
export function isVfioUserReplyError(value: unknown): value is VfioUserReplyError {
  return (
    isClientError(value) &&
    value.code === 'error-reply' &&
    typeof value.errno === 'number' &&
    typeof value.command === 'number' &&
    typeof value.msgId === 'number'
  );
}
