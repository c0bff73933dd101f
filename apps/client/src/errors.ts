import { isVfuError, VfuError } from '@vfu/errors';

/**
 * Why `vfu-client` stopped:
 * - `usage`: bad command-line arguments (exit status 2).
 * - `demo-failed`: a demo saw the device misbehave (exit status 1).
 */
export type ClientAppErrorCode = 'usage' | 'demo-failed';

/** The error type of the `vfu-client` app. */
export class ClientAppError extends VfuError<ClientAppErrorCode> {
  override readonly name = 'ClientAppError';
}

/** True for a {@link ClientAppError}, also from another copy of this package (checks the shape). */
export function isClientAppError(value: unknown): value is ClientAppError {
  if (value instanceof ClientAppError) return true;
  return isVfuError(value, 'ClientAppError') && (value.code === 'usage' || value.code === 'demo-failed');
}
