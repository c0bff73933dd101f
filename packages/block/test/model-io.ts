/**
 * Model-based checking of a BlockBackend: random batches of requests (scatter-gather writes,
 * write-zeroes, discards, reads, flushes), the requests of a batch in flight together on
 * disjoint ranges, every read compared with a plain array that models the disk.
 */
import { fc } from '@fast-check/vitest';
import type { BlockBackend } from '../src/index';

export type ModelRequest =
  | { op: 'write'; at: { offset: number; length: number }; seed: number; cuts: number[]; fua: boolean }
  | { op: 'zero'; at: { offset: number; length: number }; mayUnmap: boolean }
  | { op: 'discard'; at: { offset: number; length: number } }
  | { op: 'read'; at: { offset: number; length: number }; cuts: number[] }
  | { op: 'flush' };

/** Batches of requests on a disk of `size` bytes; each request at most `maxLength` bytes. */
export function modelBatches(size: number, maxLength: number) {
  const range = fc
    .tuple(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 1, max: maxLength }))
    .map(([offset, length]) => ({ offset, length: Math.min(length, size - offset) }));
  const cuts = fc.array(fc.integer({ min: 1, max: maxLength }), { maxLength: 4 });
  const request: fc.Arbitrary<ModelRequest> = fc.oneof(
    fc.record({
      op: fc.constant('write' as const),
      at: range,
      seed: fc.integer({ min: 1, max: 255 }),
      cuts,
      fua: fc.boolean(),
    }),
    fc.record({ op: fc.constant('zero' as const), at: range, mayUnmap: fc.boolean() }),
    fc.record({ op: fc.constant('discard' as const), at: range }),
    fc.record({ op: fc.constant('read' as const), at: range, cuts }),
    fc.record({ op: fc.constant('flush' as const) }),
  );
  return fc.array(fc.array(request, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 });
}

/** `bytes` split at the given cut points into separate views (a scatter-gather list). */
function split(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.filter((c) => c < bytes.length))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

/**
 * Runs `batches` against `backend`, whose contents start as `initial`. With `discardZeroes`,
 * discarded bytes must read as zeros (a file with hole punching); otherwise their contents are
 * unspecified, as NBD says of TRIM, and they are not compared until written again.
 */
export async function checkAgainstModel(
  backend: BlockBackend,
  initial: Uint8Array,
  batches: readonly (readonly ModelRequest[])[],
  discardZeroes: boolean,
): Promise<void> {
  const model = initial.slice();
  const known = new Uint8Array(model.length).fill(1);
  const compare = (offset: number, got: Uint8Array, what: string) => {
    for (let i = 0; i < got.length; i++) {
      if (known[offset + i] && got[i] !== model[offset + i]) {
        throw new Error(`${what}: byte ${offset + i} is ${got[i]}, the model says ${model[offset + i]}`);
      }
    }
  };
  for (const batch of batches) {
    // Overlapping requests in flight together have no defined order: keep the first of them.
    const taken: Array<[number, number]> = [];
    const disjoint = batch.filter((r) => {
      if (r.op === 'flush') return true;
      const { offset, length } = r.at;
      if (taken.some(([o, l]) => offset < o + l && o < offset + length)) return false;
      taken.push([offset, length]);
      return true;
    });
    const checks: Array<() => void> = [];
    await Promise.all(
      disjoint.map(async (r) => {
        switch (r.op) {
          case 'write': {
            const data = new Uint8Array(r.at.length).map((_, i) => (r.seed + i) & 0xff);
            model.set(data, r.at.offset);
            known.fill(1, r.at.offset, r.at.offset + r.at.length);
            await backend.writev(r.at.offset, split(data, r.cuts), { fua: r.fua });
            return;
          }
          case 'zero':
            model.fill(0, r.at.offset, r.at.offset + r.at.length);
            known.fill(1, r.at.offset, r.at.offset + r.at.length);
            await backend.writeZeroes(r.at.offset, r.at.length, { mayUnmap: r.mayUnmap });
            return;
          case 'discard':
            model.fill(0, r.at.offset, r.at.offset + r.at.length);
            known.fill(discardZeroes ? 1 : 0, r.at.offset, r.at.offset + r.at.length);
            await backend.discard(r.at.offset, r.at.length);
            return;
          case 'read': {
            const out = new Uint8Array(r.at.length).fill(0xee);
            const offset = r.at.offset;
            await backend.readv(offset, split(out, r.cuts));
            checks.push(() => compare(offset, out, `read of ${out.length} at ${offset}`));
            return;
          }
          case 'flush':
            await backend.flush();
            return;
        }
      }),
    );
    for (const check of checks) check();
  }
  const all = new Uint8Array(model.length);
  await backend.readv(0, all);
  compare(0, all, 'final contents');
}
