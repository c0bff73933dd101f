import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll } from 'vitest';
import { FileBackend } from './file';

// Random sequences of requests, several in flight at once, checked against a plain array: what a
// read returns is what the model says, whatever mix of writes, zeroing and discards came before.
const SIZE = 64 * 1024;
const dir = mkdtempSync('/dev/shm/vfu-block-prop-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const range = fc
  .tuple(fc.integer({ min: 0, max: SIZE - 1 }), fc.integer({ min: 1, max: 12 * 1024 }))
  .map(([offset, length]) => ({ offset, length: Math.min(length, SIZE - offset) }));
const cuts = fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 4 });
const request = fc.oneof(
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

/** `length` bytes split at the given cut points into separate views (a scatter-gather list). */
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

test.prop([fc.array(fc.array(request, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 })], {
  numRuns: 40,
})('file driver: batches of concurrent requests on disjoint ranges match a model', async (batches) => {
  const path = join(dir, `img${n++}`);
  writeFileSync(path, Buffer.alloc(SIZE, 0x11));
  const model = new Uint8Array(SIZE).fill(0x11);
  const b = await FileBackend.open({ filename: path, queueDepth: 3 });
  try {
    for (const batch of batches) {
      // Requests in flight together must not overlap (their order is unspecified), so later
      // ones in a batch that overlap earlier ones wait for the next batch's turn: they are dropped.
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
              await b.writev(r.at.offset, split(data, r.cuts), { fua: r.fua });
              return;
            }
            case 'zero':
              model.fill(0, r.at.offset, r.at.offset + r.at.length);
              await b.writeZeroes(r.at.offset, r.at.length, { mayUnmap: r.mayUnmap });
              return;
            case 'discard':
              // On tmpfs a discard punches a hole, which reads back as zeros.
              model.fill(0, r.at.offset, r.at.offset + r.at.length);
              await b.discard(r.at.offset, r.at.length);
              return;
            case 'read': {
              const out = new Uint8Array(r.at.length).fill(0xee);
              const expected = model.slice(r.at.offset, r.at.offset + r.at.length);
              await b.readv(r.at.offset, split(out, r.cuts));
              checks.push(() => {
                if (!Buffer.from(out).equals(expected))
                  throw new Error(`read at ${r.at.offset} differs from the model`);
              });
              return;
            }
            case 'flush':
              await b.flush();
              return;
          }
        }),
      );
      for (const check of checks) check();
    }
    const all = new Uint8Array(SIZE);
    await b.readv(0, all);
    if (!Buffer.from(all).equals(model)) throw new Error('final contents differ from the model');
  } finally {
    await b.close();
  }
});
