import { hex, isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';

/**
 * Typed errors of @vfu/pci. `QdevError` covers the device tree (properties, types, buses,
 * lifecycle); `PciError` covers the PCI model (config space, BARs, capabilities, interrupts).
 * A guest misprogramming a device is never an error: it is clamped or ignored, as QEMU does.
 */

/** Why a device-tree operation failed. */
export type QdevErrorCode =
  | 'unknown-property'
  | 'invalid-property-value'
  | 'property-out-of-range'
  | 'property-locked'
  | 'unknown-driver'
  | 'duplicate-driver'
  | 'invalid-id'
  | 'duplicate-id'
  | 'duplicate-bus'
  | 'bus-not-found'
  | 'ambiguous-bus'
  | 'no-suitable-bus'
  | 'wrong-bus-type'
  | 'bus-full'
  | 'device-not-found'
  | 'not-hotpluggable'
  | 'already-plugged'
  | 'already-realized'
  | 'not-realized';

/** Context carried by a {@link QdevError}, as its one `context` field; every field is optional. */
export interface QdevErrorContext extends VfuErrorContext {
  driver?: string;
  deviceId?: string;
  busId?: string;
  property?: string;
  value?: string;
  /** Buses that could take the device, when the choice was ambiguous. */
  candidates?: readonly string[];
}

/** A device-tree error: bad property, unknown driver, duplicate id, no or ambiguous bus... */
export class QdevError extends VfuError<QdevErrorCode, QdevErrorContext> {
  override readonly name = 'QdevError';
}

/** Shape guard for {@link QdevError} (works across copies of the package). */
export function isQdevError(e: unknown): e is QdevError {
  return isVfuError(e, 'QdevError');
}

/** Why a PCI-model operation failed. These are host (device author or bus owner) mistakes. */
export type PciErrorCode =
  | 'invalid-config-access'
  | 'invalid-bar'
  | 'bar-in-use'
  | 'invalid-capability'
  | 'capability-overlap'
  | 'config-space-full'
  | 'invalid-devfn'
  | 'devfn-in-use'
  | 'bus-full'
  | 'invalid-vector'
  | 'invalid-interrupt-pin'
  | 'not-realized'
  | 'bus-busy';

/** Context carried by a {@link PciError}, as its one `context` field; every field is optional. */
export interface PciErrorContext extends VfuErrorContext {
  deviceId?: string;
  busId?: string;
  /** Config-space offset, BAR index, capability offset or vector, as the code implies. */
  offset?: number;
  barIndex?: number;
  devfn?: number;
  vector?: number;
}

/** A PCI-model error: bad BAR registration, capability overlap, devfn taken, bad vector... */
export class PciError extends VfuError<PciErrorCode, PciErrorContext> {
  override readonly name = 'PciError';
}

/** Shape guard for {@link PciError} (works across copies of the package). */
export function isPciError(e: unknown): e is PciError {
  return isVfuError(e, 'PciError');
}

/** `hex()` of @vfu/errors, re-exported for the modules of this package. */
export { hex };
