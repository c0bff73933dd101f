/** What went wrong, for {@link TraceError}. */
export type TraceErrorCode =
  /** The file is not a pcapng capture, or not one of vfio-user messages. */
  | 'bad-capture'
  /** Writing or rotating a capture file failed. */
  | 'write-failed'
  /** A bad option or argument. */
  | 'invalid-argument'
  /** A replayed peer answered differently from the capture, or went away. */
  | 'replay-failed';

/** Errors of @vfu/trace, with a code and the file concerned where there is one. */
export class TraceError extends Error {
  override readonly name = 'TraceError';
  readonly code: TraceErrorCode;
  readonly path: string | undefined;

  constructor(code: TraceErrorCode, message: string, context: { path?: string; cause?: unknown } = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.path = context.path;
  }
}

/** True for a {@link TraceError}. */
export function isTraceError(e: unknown): e is TraceError {
  return e instanceof TraceError;
}
