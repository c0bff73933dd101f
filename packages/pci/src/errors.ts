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

/** Context carried by a {@link QdevError}; every field is optional. */
export interface QdevErrorContext {
  driver?: string;
  deviceId?: string;
  busId?: string;
  property?: string;
  value?: string;
  /** Buses that could take the device, when the choice was ambiguous. */
  candidates?: readonly string[];
  cause?: unknown;
}

/** A device-tree error: bad property, unknown driver, duplicate id, no or ambiguous bus... */
export class QdevError extends Error {
  override readonly name = 'QdevError';
  readonly code: QdevErrorCode;
  readonly driver: string | undefined;
  readonly deviceId: string | undefined;
  readonly busId: string | undefined;
  readonly property: string | undefined;
  readonly value: string | undefined;
  readonly candidates: readonly string[] | undefined;

  constructor(code: QdevErrorCode, message: string, context: QdevErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.driver = context.driver;
    this.deviceId = context.deviceId;
    this.busId = context.busId;
    this.property = context.property;
    this.value = context.value;
    this.candidates = context.candidates;
  }
}

/** Shape guard for {@link QdevError} (works across copies of the package). */
export function isQdevError(e: unknown): e is QdevError {
  return (
    e instanceof Error &&
    (e as { name?: unknown }).name === 'QdevError' &&
    typeof (e as { code?: unknown }).code === 'string'
  );
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

/** Context carried by a {@link PciError}; every field is optional. */
export interface PciErrorContext {
  deviceId?: string;
  busId?: string;
  /** Config-space offset, BAR index, capability offset or vector, as the code implies. */
  offset?: number;
  barIndex?: number;
  devfn?: number;
  vector?: number;
  cause?: unknown;
}

/** A PCI-model error: bad BAR registration, capability overlap, devfn taken, bad vector... */
export class PciError extends Error {
  override readonly name = 'PciError';
  readonly code: PciErrorCode;
  readonly deviceId: string | undefined;
  readonly busId: string | undefined;
  readonly offset: number | undefined;
  readonly barIndex: number | undefined;
  readonly devfn: number | undefined;
  readonly vector: number | undefined;

  constructor(code: PciErrorCode, message: string, context: PciErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.deviceId = context.deviceId;
    this.busId = context.busId;
    this.offset = context.offset;
    this.barIndex = context.barIndex;
    this.devfn = context.devfn;
    this.vector = context.vector;
  }
}

/** Shape guard for {@link PciError} (works across copies of the package). */
export function isPciError(e: unknown): e is PciError {
  return (
    e instanceof Error &&
    (e as { name?: unknown }).name === 'PciError' &&
    typeof (e as { code?: unknown }).code === 'string'
  );
}

/** Formats a number as 0x-prefixed hex, for error messages. */
export function hex(value: number | bigint, width = 0): string {
  return `0x${value.toString(16).padStart(width, '0')}`;
}
