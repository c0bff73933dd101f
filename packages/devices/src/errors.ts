/**
 * Typed errors of `@vfu/devices`.
 *
 * Only host-side mistakes throw (a bad property value, a character backend that cannot open,
 * restoring a malformed state). A guest misprogramming a device never throws: it is reported to
 * the device's {@link DeviceLog} and the device carries on, as the real hardware would.
 */
import { isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';

/** Closed list of the reasons a device operation can fail on the host side. */
export type DeviceErrorCode =
  | 'invalid-property'
  | 'invalid-argument'
  | 'invalid-state'
  | 'unknown-device-type'
  | 'chardev-failed';

/** Context a {@link DeviceError} carries, as its one `context` field. */
export interface DeviceErrorContext extends VfuErrorContext {
  /** QOM-style type name of the device concerned (`edu`, `pci-serial`...). */
  deviceType?: string;
  /** Device id given by the user, when known. */
  deviceId?: string;
  /** Property, argument or state field at fault. */
  property?: string;
  /** The rejected value, as given. */
  value?: unknown;
}

/** The one error class the package throws; `code` says why, `context` says where. */
export class DeviceError extends VfuError<DeviceErrorCode, DeviceErrorContext> {
  override readonly name = 'DeviceError';
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
  return isVfuError(e, 'DeviceError') && DEVICE_ERROR_CODES.has(e.code);
}
