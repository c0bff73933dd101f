/**
 * A scatter-gather list: the bytes of one request, in order, possibly spread over several views
 * (for instance the guest pages one NVMe PRP list names). Views are used in place, never copied
 * by the caller's side; a backend reads into them or writes from them directly where it can.
 */
export type IoVector = Uint8Array | readonly Uint8Array[];

/** The segments of `iov` as an array. */
export function segmentsOf(iov: IoVector): readonly Uint8Array[] {
  return iov instanceof Uint8Array ? [iov] : iov;
}

/** Total bytes in `iov`. */
export function ioVectorLength(iov: IoVector): number {
  if (iov instanceof Uint8Array) return iov.length;
  let n = 0;
  for (const s of iov) n += s.length;
  return n;
}

/** Views of `iov` covering bytes [start, start + length), without copying. */
export function sliceIoVector(iov: IoVector, start: number, length: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = start;
  let left = length;
  for (const s of segmentsOf(iov)) {
    if (left === 0) break;
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    const take = Math.min(s.length - skip, left);
    out.push(s.subarray(skip, skip + take));
    left -= take;
    skip = 0;
  }
  return out;
}

/** Copies `bytes` into `iov` starting at byte `at` of the vector. */
export function copyIntoIoVector(iov: IoVector, at: number, bytes: Uint8Array): void {
  let done = 0;
  for (const view of sliceIoVector(iov, at, bytes.length)) {
    view.set(bytes.subarray(done, done + view.length));
    done += view.length;
  }
}

/** Zero-fills bytes [at, at + length) of `iov`. */
export function zeroIoVector(iov: IoVector, at: number, length: number): void {
  for (const view of sliceIoVector(iov, at, length)) view.fill(0);
}

/** Copies all of `iov` into one new buffer (for bounce paths only). */
export function gatherIoVector(
  iov: IoVector,
  into: Uint8Array = new Uint8Array(ioVectorLength(iov)),
): Uint8Array {
  let at = 0;
  for (const s of segmentsOf(iov)) {
    into.set(s, at);
    at += s.length;
  }
  return into;
}
