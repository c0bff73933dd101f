/**
 * Why `vfu-client` stopped:
 * - `usage`: bad command-line arguments (exit status 2).
 * - `demo-failed`: a demo saw the device misbehave (exit status 1).
 */
export type ClientAppErrorCode = 'usage' | 'demo-failed';

/** The error type of the `vfu-client` app. */
export class ClientAppError extends Error {
  override readonly name = 'ClientAppError';
  readonly code: ClientAppErrorCode;

  constructor(code: ClientAppErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** True for a {@link ClientAppError}, also from another copy of this package (checks the shape). */
export function isClientAppError(value: unknown): value is ClientAppError {
  if (value instanceof ClientAppError) return true;
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { name?: unknown; code?: unknown };
  return v.name === 'ClientAppError' && (v.code === 'usage' || v.code === 'demo-failed');
}
