import { VfuError, type VfuErrorContext } from '@vfu/errors';

/** What went wrong, for {@link ConformanceError}. */
export type ConformanceErrorCode = 'usage' | 'bad-expect-file' | 'connect-failed' | 'peer-unusable';

/** Errors of @vfu/conformance (a run that cannot start; failing checks are results, not errors). */
export class ConformanceError extends VfuError<ConformanceErrorCode, VfuErrorContext & { path?: string }> {
  override readonly name = 'ConformanceError';
}
