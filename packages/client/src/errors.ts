import { isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';
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

/** Context attached to a {@link ClientError}, as its one `context` field. */
export interface ClientErrorContext extends VfuErrorContext {
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

/** The error type of `@vfu/client`; `command`, `msgId`, `region`, `irqIndex` and `path` read its context. */
export class ClientError extends VfuError<ClientErrorCode, ClientErrorContext> {
  override readonly name: string = 'ClientError';

  /** vfio-user command number concerned. */
  get command(): number | undefined {
    return this.context.command;
  }

  /** Message id of the request concerned. */
  get msgId(): number | undefined {
    return this.context.msgId;
  }

  /** Region index concerned. */
  get region(): number | undefined {
    return this.context.region;
  }

  /** IRQ index concerned. */
  get irqIndex(): number | undefined {
    return this.context.irqIndex;
  }

  /** Socket path concerned. */
  get path(): string | undefined {
    return this.context.path;
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

  constructor(
    command: number,
    errno: number,
    msgId: number,
    context: Omit<ClientErrorContext, 'command' | 'errno' | 'msgId'> = {},
  ) {
    super(
      'error-reply',
      `${commandName(command)} failed on the server: ${errnoName(errno)} (${errno}), msg_id ${msgId}`,
      { ...context, command, errno, msgId },
    );
  }

  override get command(): number {
    return this.context.command as number;
  }

  override get errno(): number {
    return this.context.errno as number;
  }

  override get msgId(): number {
    return this.context.msgId as number;
  }
}

/** True for a {@link ClientError}, also one from another copy of this package (checks the shape). */
export function isClientError(value: unknown): value is ClientError {
  if (value instanceof ClientError) return true;
  return (
    (isVfuError(value, 'ClientError') || isVfuError(value, 'VfioUserReplyError')) && CODES.has(value.code)
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
