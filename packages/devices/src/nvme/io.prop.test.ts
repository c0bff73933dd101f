import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { NvmeTestBed } from '../../test/nvme-harness';
import { NvmeIoOpcode } from './constants';

const BLOCK = 512;
const BLOCKS = 256;
const PAGE = 4096;

type Layout =
  | { kind: 'prp'; offset: number }
  | { kind: 'sgl'; cuts: number[]; chained: boolean; gaps: number[] };

interface Op {
  kind: 'write' | 'read' | 'flush' | 'zeroes' | 'dealloc';
  slba: number;
  nlb: number;
  layout: Layout;
  seed: number;
}

const layoutArb: fc.Arbitrary<Layout> = fc.oneof(
  fc.record({
    kind: fc.constant('prp' as const),
    offset: fc.integer({ min: 0, max: PAGE / 4 - 1 }).map((d) => d * 4),
  }),
  fc.record({
    kind: fc.constant('sgl' as const),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
    chained: fc.boolean(),
    gaps: fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 6, maxLength: 6 }),
  }),
);

const opArb: fc.Arbitrary<Op> = fc
  .record({
    kind: fc.constantFrom<Op['kind']>('write', 'write', 'read', 'read', 'flush', 'zeroes', 'dealloc'),
    slba: fc.integer({ min: 0, max: BLOCKS - 1 }),
    nlb: fc.integer({ min: 1, max: 64 }),
    layout: layoutArb,
    seed: fc.integer({ min: 0, max: 255 }),
  })
  .map((op) => ({ ...op, nlb: Math.min(op.nlb, BLOCKS - op.slba) }));

/** Places a buffer of `length` bytes per `layout`; returns the SQE data pointer and the pieces. */
function place(bed: NvmeTestBed, length: number, layout: Layout) {
  const pieces: { address: bigint; length: number }[] = [];
  if (layout.kind === 'prp') {
    let left = length;
    let first = true;
    const pages: bigint[] = [];
    while (left > 0) {
      const page = bed.memory.alloc(PAGE);
      pages.push(page);
      const start = first ? layout.offset : 0;
      const n = Math.min(PAGE - start, left);
      pieces.push({ address: page + BigInt(start), length: n });
      left -= n;
      first = false;
    }
    let prp2 = 0n;
    if (pages.length === 2) prp2 = pages[1]!;
    if (pages.length > 2) {
      prp2 = bed.memory.alloc(PAGE);
      const dv = new DataView(
        bed.memory.view(prp2, PAGE).buffer,
        bed.memory.view(prp2, PAGE).byteOffset,
        PAGE,
      );
      for (const [i, p] of pages.slice(1).entries()) dv.setBigUint64(i * 8, p, true);
    }
    return { sqe: { psdt: 0, prp1: pieces[0]!.address, prp2 }, pieces };
  }
  const points = [...new Set(layout.cuts.map((c) => Math.floor(c * length)))]
    .filter((p) => p > 0 && p < length)
    .sort((a, b) => a - b);
  const bounds = [0, ...points, length];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const n = bounds[i + 1]! - bounds[i]!;
    const gap = layout.gaps[i % layout.gaps.length]!;
    pieces.push({ address: bed.memory.alloc(n + gap, 16) + BigInt(gap), length: n });
  }
  const desc = (dv: DataView, at: number, address: bigint, len: number, type: number): void => {
    dv.setBigUint64(at, address, true);
    dv.setUint32(at + 8, len, true);
    dv.setUint8(at + 15, type << 4);
  };
  const sgl1 = new Uint8Array(16);
  if (pieces.length === 1) {
    desc(new DataView(sgl1.buffer), 0, pieces[0]!.address, pieces[0]!.length, 0);
    return { sqe: { psdt: 1, sgl1 }, pieces };
  }
  const writeSegment = (
    items: { address: bigint; length: number }[],
    next?: { address: bigint; length: number },
  ) => {
    const count = items.length + (next === undefined ? 0 : 1);
    const at = bed.memory.alloc(count * 16, 16);
    const dv = new DataView(
      bed.memory.view(at, count * 16).buffer,
      bed.memory.view(at, count * 16).byteOffset,
      count * 16,
    );
    for (const [i, p] of items.entries()) desc(dv, i * 16, p.address, p.length, 0);
    if (next !== undefined) desc(dv, items.length * 16, next.address, next.length, 3);
    return { address: at, length: count * 16 };
  };
  if (layout.chained && pieces.length >= 2) {
    const half = Math.ceil(pieces.length / 2);
    const tail = writeSegment(pieces.slice(half));
    const head = writeSegment(pieces.slice(0, half), tail);
    desc(new DataView(sgl1.buffer), 0, head.address, head.length, 2);
  } else {
    const only = writeSegment(pieces);
    desc(new DataView(sgl1.buffer), 0, only.address, only.length, 3);
  }
  return { sqe: { psdt: 1, sgl1 }, pieces };
}

function bytesFor(op: Op): Uint8Array {
  const out = new Uint8Array(op.nlb * BLOCK);
  for (let i = 0; i < out.length; i++) out[i] = (op.seed * 131 + i * 7 + (i >> 8)) & 0xff;
  return out;
}

describe.each(['mmap', 'message'] as const)('NVMe data path against a model (%s DMA)', (mode) => {
  test.prop([fc.array(opArb, { minLength: 1, maxLength: 25 })], { numRuns: 25 })(
    'random reads, writes, flushes, write-zeroes and deallocates lose and corrupt nothing',
    async (ops) => {
      const bed = new NvmeTestBed({ backendSize: BLOCKS * BLOCK });
      bed.enable();
      await bed.createIoQueuePair(1);
      bed.memory.mode = mode;
      const model = new Uint8Array(BLOCKS * BLOCK);
      for (const op of ops) {
        const offset = op.slba * BLOCK;
        const length = op.nlb * BLOCK;
        const rangeFields = { nsid: 1, cdw10: op.slba, cdw12: op.nlb - 1 };
        if (op.kind === 'write' || op.kind === 'read') {
          const { sqe, pieces } = place(bed, length, op.layout);
          const data = bytesFor(op);
          if (op.kind === 'write') {
            let at = 0;
            for (const p of pieces) {
              bed.memory.view(p.address, p.length).set(data.subarray(at, at + p.length));
              at += p.length;
            }
          }
          const opcode = op.kind === 'write' ? NvmeIoOpcode.WRITE : NvmeIoOpcode.READ;
          const cqe = await bed.run(1, { opcode, ...sqe, ...rangeFields });
          expect(cqe.status).toBe(0);
          if (op.kind === 'write') model.set(data, offset);
          else {
            const got = new Uint8Array(length);
            let at = 0;
            for (const p of pieces) {
              got.set(bed.memory.view(p.address, p.length), at);
              at += p.length;
            }
            expect(Buffer.compare(got, model.subarray(offset, offset + length))).toBe(0);
          }
        } else if (op.kind === 'flush') {
          expect((await bed.run(1, { opcode: NvmeIoOpcode.FLUSH, nsid: 1 })).status).toBe(0);
        } else if (op.kind === 'zeroes') {
          expect(
            (
              await bed.run(1, {
                opcode: NvmeIoOpcode.WRITE_ZEROES,
                ...rangeFields,
                cdw12: (op.nlb - 1) | (op.seed & 1 ? 1 << 25 : 0),
              })
            ).status,
          ).toBe(0);
          model.fill(0, offset, offset + length);
        } else {
          const list = bed.memory.alloc(PAGE);
          const dv = new DataView(bed.memory.view(list, 16).buffer, bed.memory.view(list, 16).byteOffset, 16);
          dv.setUint32(4, op.nlb, true);
          dv.setBigUint64(8, BigInt(op.slba), true);
          expect(
            (await bed.run(1, { opcode: NvmeIoOpcode.DSM, nsid: 1, prp1: list, cdw10: 0, cdw11: 4 })).status,
          ).toBe(0);
          model.fill(0, offset, offset + length);
        }
      }
      expect(Buffer.compare(bed.backend.data, model)).toBe(0);
      expect(bed.log.guestErrors).toEqual([]);
    },
    30_000,
  );
});
