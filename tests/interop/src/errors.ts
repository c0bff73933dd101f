/**
 * Typed errors of @vfu/interop-tests. Every failure names what was being done (which guest, which
 * server, which file) so a red CI run reads without a rerun.
 */

/** Why an interop operation failed. */
export type InteropErrorCode =
  | 'cache-missing'
  | 'invalid-argument'
  | 'qemu-start-failed'
  | 'guest-timeout'
  | 'guest-failed'
  | 'no-result-marker'
  | 'server-start-failed'
  | 'server-exited'
  | 'qmp-failed';

/** Context carried by an {@link InteropError}; every field is optional. */
export interface InteropErrorContext {
  /** The guest run concerned (its name). */
  guest?: string;
  /** The server process concerned (its name). */
  server?: string;
  /** A file or socket path concerned. */
  path?: string;
  /** The QMP command concerned. */
  command?: string;
  /** A readable multi-line report (console and server log tails) for failures of a guest run. */
  report?: string;
  cause?: unknown;
}

/** An interop harness error: cache not prepared, a guest that failed or hung, a server that died... */
export class InteropError extends Error {
  override readonly name = 'InteropError';
  readonly code: InteropErrorCode;
  readonly guest: string | undefined;
  readonly server: string | undefined;
  readonly path: string | undefined;
  readonly command: string | undefined;
  readonly report: string | undefined;

  constructor(code: InteropErrorCode, message: string, context: InteropErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.guest = context.guest;
    this.server = context.server;
    this.path = context.path;
    this.command = context.command;
    this.report = context.report;
  }
}

/** Shape guard for {@link InteropError} (works across copies of the package). */
export function isInteropError(e: unknown): e is InteropError {
  return (
    e instanceof Error &&
    (e as { name?: unknown }).name === 'InteropError' &&
    typeof (e as { code?: unknown }).code === 'string'
  );
}
