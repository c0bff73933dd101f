/**
 * Live heap after a full garbage collection, for "memory stays bounded" checks: it grows only with
 * what the code under test keeps, not with garbage awaiting collection.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bytes of live heap, after a full collection. */
export function liveHeapBytes(): number {
  // --expose-gc at run time: the flag applies to contexts created afterwards.
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

/** How much the live heap may grow over a target's runs before it counts as unbounded. */
export const HEAP_GROWTH_LIMIT = 128 << 20;
