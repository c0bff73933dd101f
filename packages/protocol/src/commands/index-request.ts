import type { PayloadReader, PayloadWriter } from '../wire';

/**
 * The 16-byte request DEVICE_GET_IRQ_INFO and DEVICE_GET_REGION_IO_FDS share: argsz, flags (0),
 * index, count (0). Only `argsz` and the index carry meaning; the reply fills in the rest.
 */
export interface IndexRequest {
  argsz: number;
  index: number;
}

/** Decodes an {@link IndexRequest}; `struct` names the command's struct in errors. */
export function decodeIndexRequest(r: PayloadReader, fds: readonly number[], struct: string): IndexRequest {
  r.noFds(fds);
  r.exact(16, struct);
  const argsz = r.u32(0, 'argsz');
  r.argszAtLeast(argsz, 16);
  r.zero(4, 4, 'flags');
  r.zero(12, 4, 'count');
  return { argsz, index: r.u32(8, 'index') };
}

/** Writes an {@link IndexRequest}, with flags and count 0. */
export function encodeIndexRequest(w: PayloadWriter, q: IndexRequest): void {
  w.u32(0, q.argsz, 'argsz');
  w.u32(4, 0, 'flags');
  w.u32(8, q.index, 'index');
  w.u32(12, 0, 'count');
}
