import { hex, isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';

/**
 * What went wrong, as a closed list so callers can switch on it:
 * - `invalid-address`: an address or offset is not a bigint in [0, 2^64).
 * - `invalid-size`: a size is not a bigint in [1, 2^64], or exceeds what the region kind allows.
 * - `invalid-argument`: any other argument of the wrong type or out of its domain (priority, value, name).
 * - `invalid-ops`: a `MemoryRegionOps` object is malformed (missing callback, impossible access sizes).
 * - `out-of-range`: an access or range runs past the end of a region or of the 2^64 address space.
 * - `misaligned`: an offset that must be aligned (dirty-log pages) is not.
 * - `overlap`: `addSubregion` would overlap a sibling that was also added without overlap.
 * - `already-has-parent`: the region is already a subregion of some container.
 * - `not-a-subregion`: `removeSubregion` of a region that is not a child.
 * - `cycle`: the change would make the region graph cyclic (through containers or aliases).
 * - `wrong-kind`: the operation does not apply to this kind of region.
 * - `not-ram`: a RAM-only operation (dirty logging) on another kind of region.
 * - `dirty-logging-off`: reading the dirty bitmap of a region whose logging is off.
 * - `allocation-failed`: the RAM backing could not be allocated.
 * - `transaction-underflow`: `commit()` without a matching `begin()`.
 * - `topology-unstable`: listeners kept changing the topology from inside commit.
 * - `destroyed`: the address space was destroyed.
 * - `listener-failed`: a listener or notifier threw; the first error is the `cause`.
 */
export type MemoryErrorCode =
  | 'invalid-address'
  | 'invalid-size'
  | 'invalid-argument'
  | 'invalid-ops'
  | 'out-of-range'
  | 'misaligned'
  | 'overlap'
  | 'already-has-parent'
  | 'not-a-subregion'
  | 'cycle'
  | 'wrong-kind'
  | 'not-ram'
  | 'dirty-logging-off'
  | 'allocation-failed'
  | 'transaction-underflow'
  | 'topology-unstable'
  | 'destroyed'
  | 'listener-failed';

/** Context carried by a {@link MemoryError}, as its one `context` field. */
export interface MemoryErrorContext extends VfuErrorContext {
  /** Name of the region (or address space) concerned. */
  regionName?: string;
  /** Address or offset concerned; shown in hex in the message. */
  address?: bigint;
}

/**
 * A misuse of the memory API by the host program (never a guest mistake: those are
 * `MemTxResult`s). The message names the region and the address in hex; both are also in
 * `context`.
 */
export class MemoryError extends VfuError<MemoryErrorCode, MemoryErrorContext> {
  override readonly name = 'MemoryError';

  constructor(code: MemoryErrorCode, message: string, context: MemoryErrorContext = {}) {
    const where: string[] = [];
    if (context.regionName !== undefined) where.push(`region "${context.regionName}"`);
    if (context.address !== undefined) where.push(`address ${hex(context.address)}`);
    super(code, where.length > 0 ? `${message} (${where.join(', ')})` : message, context);
  }
}

const CODES: ReadonlySet<string> = new Set<MemoryErrorCode>([
  'invalid-address',
  'invalid-size',
  'invalid-argument',
  'invalid-ops',
  'out-of-range',
  'misaligned',
  'overlap',
  'already-has-parent',
  'not-a-subregion',
  'cycle',
  'wrong-kind',
  'not-ram',
  'dirty-logging-off',
  'allocation-failed',
  'transaction-underflow',
  'topology-unstable',
  'destroyed',
  'listener-failed',
]);

/**
 * True for a {@link MemoryError}, checked by shape so that it also recognises errors thrown by
 * another loaded copy of this package.
 */
export function isMemoryError(e: unknown): e is MemoryError {
  return isVfuError(e, 'MemoryError') && CODES.has(e.code);
}
