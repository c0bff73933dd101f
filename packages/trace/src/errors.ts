import { VfuError, type VfuErrorContext } from '@vfu/errors';

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

/** Context of a {@link TraceError}: the capture file concerned, where there is one. */
export interface TraceErrorContext extends VfuErrorContext {
  path?: string;
}

/** Errors of @vfu/trace. */
export class TraceError extends VfuError<TraceErrorCode, TraceErrorContext> {
  override readonly name = 'TraceError';
}

/** True for a {@link TraceError}. */
export function isTraceError(e: unknown): e is TraceError {
  return e instanceof TraceError;
}
