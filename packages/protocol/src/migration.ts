import { MigDeviceState, migDeviceStateName } from './constants';
import { ProtocolError } from './errors';

/**
 * The direct arcs of the vfio migration v2 state machine (Linux `vfio.h`, vfio-user spec): the
 * transitions a device implements itself. Any other pair is walked as a path of these.
 */
const ARCS: Readonly<Record<number, readonly MigDeviceState[]>> = {
  [MigDeviceState.Running]: [MigDeviceState.Stop, MigDeviceState.PreCopy],
  [MigDeviceState.Stop]: [MigDeviceState.Running, MigDeviceState.StopCopy, MigDeviceState.Resuming],
  [MigDeviceState.StopCopy]: [MigDeviceState.Stop],
  [MigDeviceState.Resuming]: [MigDeviceState.Stop],
  [MigDeviceState.PreCopy]: [MigDeviceState.Running, MigDeviceState.StopCopy],
};

/** PRE_COPY and STOP_COPY: states a combined transition may start or end in, never pass through. */
function isSaving(s: MigDeviceState): boolean {
  return s === MigDeviceState.PreCopy || s === MigDeviceState.StopCopy;
}

function reject(from: number, to: number, why: string): ProtocolError {
  return new ProtocolError(
    'bad-migration-transition',
    `migration ${migDeviceStateName(from)} -> ${migDeviceStateName(to)}: ${why}`,
    { field: 'device_state', actual: migDeviceStateName(to) },
  );
}

/**
 * The states a device passes through to go from `from` to `to` (excluding `from`, ending with
 * `to`): the shortest path of direct arcs that never passes through PRE_COPY or STOP_COPY, as
 * the spec and libvfio-user define it. Empty when `from === to`. Throws ProtocolError
 * `bad-migration-transition` (EINVAL) for ERROR, the P2P states, STOP_COPY -> PRE_COPY, and
 * PRE_COPY when the device does not support it.
 */
export function migrationPath(
  from: number,
  to: number,
  options: { preCopy?: boolean } = {},
): MigDeviceState[] {
  const preCopy = options.preCopy ?? true;
  const usable = (s: number) => s in ARCS && (preCopy || s !== MigDeviceState.PreCopy);
  if (from === MigDeviceState.Error) throw reject(from, to, 'only DEVICE_RESET leaves ERROR');
  if (!usable(from)) throw reject(from, to, `${migDeviceStateName(from)} is not a supported state`);
  if (!usable(to)) throw reject(from, to, `${migDeviceStateName(to)} cannot be requested`);
  if (from === to) return [];
  // Forbidden outright by the spec: leaving STOP_COPY ends the save session for good.
  if (from === MigDeviceState.StopCopy && to === MigDeviceState.PreCopy) {
    throw reject(from, to, 'STOP_COPY cannot go back to PRE_COPY');
  }
  // Breadth-first search over at most five states; the saving-group rule makes paths unique.
  const prev = new Map<MigDeviceState, MigDeviceState>();
  const queue: MigDeviceState[] = [from];
  while (queue.length > 0) {
    const s = queue.shift() as MigDeviceState;
    if (s !== from && isSaving(s)) continue;
    for (const n of ARCS[s] ?? []) {
      if (!usable(n) || n === from || prev.has(n)) continue;
      prev.set(n, s);
      if (n === to) {
        const path: MigDeviceState[] = [n];
        for (let p = s; p !== from; p = prev.get(p) as MigDeviceState) path.unshift(p);
        return path;
      }
      queue.push(n);
    }
  }
  throw reject(from, to, 'no transition path');
}

/** Bytes of a DMA_LOGGING_REPORT bitmap: one bit per page, rounded up to whole u64 words. */
export function dirtyBitmapSize(length: bigint, pageSize: bigint): bigint {
  if (pageSize <= 0n) return 0n;
  const pages = (length + pageSize - 1n) / pageSize;
  return ((pages + 63n) / 64n) * 8n;
}

/** Whether page `page` (0-based from the report's `iova`) is dirty: LSB-first bits of u64 words. */
export function isPageDirty(bitmap: Uint8Array, page: number): boolean {
  const byte = bitmap[page >>> 3];
  return byte !== undefined && (byte & (1 << (page & 7))) !== 0;
}

/** Marks page `page` dirty in a little-endian u64-word bitmap. */
export function setPageDirty(bitmap: Uint8Array, page: number): void {
  const i = page >>> 3;
  if (i >= bitmap.length) {
    throw new ProtocolError('bad-value', `page ${page} is beyond the ${bitmap.length}-byte bitmap`, {
      field: 'bitmap',
    });
  }
  bitmap[i] = (bitmap[i] as number) | (1 << (page & 7));
}
