/**
 * Typed errors of `@vfu/devices`.
 *
 * Only host-side mistakes throw (a bad property value, a character backend that cannot open,
 * restoring a malformed state). A guest misprogramming a device never throws: it is reported to
 * the device's {@link DeviceLog} and the device carries on, as the real hardware would.
 */

/** Closed list of the reasons a device operation can fail on the host side. */
export type DeviceErrorCode =
  | 'invalid-property'
  | 'invalid-argument'
  | 'invalid-state'
  | 'unknown-device-type'
  | 'chardev-failed';

/** Context fields a {@link DeviceError} may carry. */
export interface DeviceErrorContext {
  /** QOM-style type name of the device concerned (`edu`, `pci-serial`...). */
  deviceType?: string;
  /** Device id given by the user, when known. */
  deviceId?: string;
  /** Property or argument at fault. */
  property?: string;
  /** The rejected value, as given. */
  value?: unknown;
  /** Underlying error. */
  cause?: unknown;
}

/** The one error class the package throws; `code` says why, the context fields say where. */
export class DeviceError extends Error {
  override readonly name = 'DeviceError';
  /** Why the operation failed. */
  readonly code: DeviceErrorCode;
  /** Device type concerned, when known. */
  readonly deviceType: string | undefined;
  /** Device id concerned, when known. */
  readonly deviceId: string | undefined;
  /** Property or argument at fault, when one is. */
  readonly property: string | undefined;
  /** The rejected value, when one is. */
  readonly value: unknown;

  constructor(code: DeviceErrorCode, message: string, context: DeviceErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.deviceType = context.deviceType;
    this.deviceId = context.deviceId;
    this.property = context.property;
    this.value = context.value;
  }
}

const DEVICE_ERROR_CODES: ReadonlySet<string> = new Set<DeviceErrorCode>([
  'invalid-property',
  'invalid-argument',
  'invalid-state',
  'unknown-device-type',
  'chardev-failed',
]);

/**
 * True when `e` looks like a {@link DeviceError}. Checks the shape rather than `instanceof`, so it
 * holds when two copies of the package are loaded.
 */
export function isDeviceError(e: unknown): e is DeviceError {
  if (typeof e !== 'object' || e === null) return false;
  const candidate = e as { name?: unknown; code?: unknown; message?: unknown };
  return (
    candidate.name === 'DeviceError' &&
    typeof candidate.code === 'string' &&
    DEVICE_ERROR_CODES.has(candidate.code) &&
    typeof candidate.message === 'string'
  );
}
