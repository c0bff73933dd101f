import { describe, expect, it } from 'vitest';
import { NvmeTestBed } from '../../test/nvme-harness';

/** Byte equality without vitest's element-wise diff, which is slow on large buffers. */
function same(actual: Uint8Array, expected: Uint8Array): void {
  expect(Buffer.compare(actual, expected), 'buffers differ').toBe(0);
}

import { NvmeAdminOpcode, NvmeFeature, NvmeIoOpcode, NvmeReg, NvmeStatus } from './constants';

const DNR = NvmeStatus.DNR;
const PAGE = 4096;

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return out;
}

/** Scatters `data` over fresh pages and builds PRP1/PRP2 (with a PRP list when needed). */
function prpLayout(
  bed: NvmeTestBed,
  length: number,
  firstOffset = 0,
): { prp1: bigint; prp2: bigint; pages: bigint[] } {
  const pages: bigint[] = [];
  let left = length + firstOffset;
  while (left > 0) {
    pages.push(bed.memory.alloc(PAGE));
    left -= PAGE;
  }
  const prp1 = pages[0]! + BigInt(firstOffset);
  if (pages.length === 1) return { prp1, prp2: 0n, pages };
  if (pages.length === 2) return { prp1, prp2: pages[1]!, pages };
  const list = bed.memory.alloc(PAGE);
  const dv = new DataView(bed.memory.view(list, PAGE).buffer, bed.memory.view(list, PAGE).byteOffset, PAGE);
  for (const [i, p] of pages.slice(1).entries()) dv.setBigUint64(i * 8, p, true);
  return { prp1, prp2: list, pages };
}

function fill(bed: NvmeTestBed, pages: bigint[], firstOffset: number, data: Uint8Array): void {
  let off = 0;
  pages.forEach((p, i) => {
    const start = i === 0 ? firstOffset : 0;
    const n = Math.min(PAGE - start, data.length - off);
    if (n > 0) bed.memory.view(p + BigInt(start), n).set(data.subarray(off, off + n));
    off += n;
  });
}

function gather(bed: NvmeTestBed, pages: bigint[], firstOffset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let off = 0;
  pages.forEach((p, i) => {
    const start = i === 0 ? firstOffset : 0;
    const n = Math.min(PAGE - start, length - off);
    if (n > 0) out.set(bed.memory.view(p + BigInt(start), n), off);
    off += n;
  });
  return out;
}

async function ready(options: ConstructorParameters<typeof NvmeTestBed>[0] = {}): Promise<NvmeTestBed> {
  const bed = new NvmeTestBed(options);
  bed.enable();
  await bed.createIoQueuePair(1);
  return bed;
}

const rw = (
  opcode: number,
  slba: number,
  nlb: number,
  extra: { prp1?: bigint; prp2?: bigint; cdw12?: number } = {},
) => ({
  opcode,
  nsid: 1,
  prp1: extra.prp1,
  prp2: extra.prp2,
  cdw10: slba,
  cdw11: 0,
  cdw12: ((extra.cdw12 ?? 0) | (nlb - 1)) >>> 0,
});

describe.each(['mmap', 'message'] as const)('NVMe I/O over %s DMA', (mode) => {
  it.each([
    [512, 0],
    [4096, 0],
    [8192, 512],
    [64 * 1024, 0],
    [128 * 1024, 1024],
  ])('writes and reads back %i bytes with PRPs (first page offset %i)', async (length, offset) => {
    const bed = await ready();
    bed.memory.mode = mode;
    const data = pattern(length, length);
    const w = prpLayout(bed, length, offset);
    fill(bed, w.pages, offset, data);
    expect((await bed.run(1, rw(NvmeIoOpcode.WRITE, 10, length / 512, w))).status).toBe(0);
    same(bed.backend.data.subarray(10 * 512, 10 * 512 + length), data);
    const r = prpLayout(bed, length, offset);
    expect((await bed.run(1, rw(NvmeIoOpcode.READ, 10, length / 512, r))).status).toBe(0);
    same(gather(bed, r.pages, offset, length), data);
  });

  it('follows a chained PRP list across list pages', async () => {
    const bed = await ready();
    bed.memory.mode = mode;
    const length = 520 * 1024 - 8 * 1024; // 128 pages: a list page of 512 entries is not enough with an offset
    const pages: bigint[] = [];
    for (let i = 0; i < length / PAGE; i++) pages.push(bed.memory.alloc(PAGE));
    // Put the list 8 bytes before the end of its page so it chains after one entry.
    const listPage = bed.memory.alloc(2 * PAGE);
    const list1 = listPage + BigInt(PAGE - 16);
    const list2 = bed.memory.alloc(PAGE);
    const v1 = new DataView(bed.memory.view(list1, 16).buffer, bed.memory.view(list1, 16).byteOffset, 16);
    v1.setBigUint64(0, pages[1]!, true);
    v1.setBigUint64(8, list2, true);
    const v2 = new DataView(
      bed.memory.view(list2, PAGE).buffer,
      bed.memory.view(list2, PAGE).byteOffset,
      PAGE,
    );
    for (const [i, p] of pages.slice(2).entries()) v2.setBigUint64(i * 8, p, true);
    const data = pattern(length, 3);
    fill(bed, pages, 0, data);
    const cqe = await bed.run(1, rw(NvmeIoOpcode.WRITE, 0, length / 512, { prp1: pages[0]!, prp2: list1 }));
    expect(cqe.status).toBe(0);
    same(bed.backend.data.subarray(0, length), data);
  });

  it('transfers through SGL data blocks, segments and a bit bucket', async () => {
    const bed = await ready();
    bed.memory.mode = mode;
    const data = pattern(3 * 512, 9);
    bed.backend.data.set(data, 0);
    const a = bed.memory.alloc(PAGE);
    const b = bed.memory.alloc(PAGE);
    const seg1 = bed.memory.alloc(PAGE);
    const seg2 = bed.memory.alloc(PAGE);
    const desc = (view: DataView, at: number, address: bigint, length: number, type: number): void => {
      view.setBigUint64(at, address, true);
      view.setUint32(at + 8, length, true);
      view.setUint8(at + 15, type << 4);
    };
    const s1 = new DataView(bed.memory.view(seg1, 32).buffer, bed.memory.view(seg1, 32).byteOffset, 32);
    desc(s1, 0, a, 512, 0); // data block
    desc(s1, 16, seg2, 32, 3); // last segment
    const s2 = new DataView(bed.memory.view(seg2, 32).buffer, bed.memory.view(seg2, 32).byteOffset, 32);
    desc(s2, 0, 0n, 512, 1); // bit bucket
    desc(s2, 16, b + 100n, 512, 0);
    const sgl1 = new Uint8Array(16);
    desc(new DataView(sgl1.buffer), 0, seg1, 32, 2);
    const cqe = await bed.run(1, { opcode: NvmeIoOpcode.READ, nsid: 1, psdt: 1, sgl1, cdw12: 2 });
    expect(cqe.status).toBe(0);
    expect(bed.memory.view(a, 512)).toEqual(data.subarray(0, 512));
    expect(bed.memory.view(b + 100n, 512)).toEqual(data.subarray(1024, 1536));
    // A bit bucket in a write is refused.
    const wcqe = await bed.run(1, { opcode: NvmeIoOpcode.WRITE, nsid: 1, psdt: 1, sgl1, cdw12: 2 });
    expect(wcqe.status).toBe(NvmeStatus.SGL_DESCR_TYPE_INVALID | DNR);
    // An SGL shorter than the transfer.
    const short = new Uint8Array(16);
    desc(new DataView(short.buffer), 0, a, 256, 0);
    expect(
      (await bed.run(1, { opcode: NvmeIoOpcode.READ, nsid: 1, psdt: 1, sgl1: short, cdw12: 0 })).status,
    ).toBe(NvmeStatus.DATA_SGL_LEN_INVALID | DNR);
  });

  it('gives Data Transfer Error for buffers outside guest memory', async () => {
    const bed = await ready();
    bed.memory.mode = mode;
    const cqe = await bed.run(1, rw(NvmeIoOpcode.READ, 0, 8, { prp1: 0x9000_0000n }));
    expect(cqe.status).toBe(NvmeStatus.DATA_TRAS_ERROR);
    const w = await bed.run(1, rw(NvmeIoOpcode.WRITE, 0, 8, { prp1: 0x9000_0000n }));
    expect(w.status).toBe(NvmeStatus.DATA_TRAS_ERROR);
    expect(bed.log.guestErrors.some((e) => /outside guest memory/.test(e.message))).toBe(true);
  });
});

describe('NVMe I/O command checks', () => {
  it('rejects LBA ranges past the end, transfers over MDTS, bad nsids and misaligned PRPs', async () => {
    const bed = await ready({ backendSize: 1 << 20, mdts: 1 });
    const buf = bed.memory.alloc(4 * PAGE);
    expect((await bed.run(1, rw(NvmeIoOpcode.READ, 2047, 2, { prp1: buf }))).status).toBe(
      NvmeStatus.LBA_RANGE | DNR,
    );
    expect((await bed.run(1, rw(NvmeIoOpcode.READ, 0, 17, { prp1: buf, prp2: buf + 4096n }))).status).toBe(
      NvmeStatus.INVALID_FIELD | DNR,
    );
    expect((await bed.run(1, { ...rw(NvmeIoOpcode.READ, 0, 1, { prp1: buf }), nsid: 0 })).status).toBe(
      NvmeStatus.INVALID_NSID | DNR,
    );
    expect((await bed.run(1, { ...rw(NvmeIoOpcode.READ, 0, 1, { prp1: buf }), nsid: 2 })).status).toBe(
      NvmeStatus.INVALID_FIELD | DNR,
    );
    expect((await bed.run(1, rw(NvmeIoOpcode.READ, 0, 16, { prp1: buf, prp2: buf + 4100n }))).status).toBe(
      NvmeStatus.INVALID_PRP_OFFSET | DNR,
    );
    expect((await bed.run(1, { opcode: 0x7f, nsid: 1 })).status).toBe(NvmeStatus.INVALID_OPCODE | DNR);
    expect((await bed.run(1, { ...rw(NvmeIoOpcode.READ, 0, 1, { prp1: buf }), psdt: 3 })).status).toBe(
      NvmeStatus.INVALID_FIELD | DNR,
    );
  });

  it('honours FUA, and writes through when the volatile write cache is off', async () => {
    const bed = await ready();
    const buf = bed.memory.alloc(PAGE);
    await bed.run(1, rw(NvmeIoOpcode.WRITE, 0, 1, { prp1: buf }));
    expect(bed.backend.fuaWrites).toBe(0);
    await bed.run(1, rw(NvmeIoOpcode.WRITE, 0, 1, { prp1: buf, cdw12: 1 << 30 }));
    expect(bed.backend.fuaWrites).toBe(1);
    await bed.run(0, {
      opcode: NvmeAdminOpcode.SET_FEATURES,
      cdw10: NvmeFeature.VOLATILE_WRITE_CACHE,
      cdw11: 0,
    });
    await bed.run(1, rw(NvmeIoOpcode.WRITE, 0, 1, { prp1: buf }));
    expect(bed.backend.fuaWrites).toBe(2);
  });

  it('flushes one namespace or all of them (NSID FFFFFFFFh)', async () => {
    const bed = await ready();
    expect((await bed.run(1, { opcode: NvmeIoOpcode.FLUSH, nsid: 1 })).status).toBe(0);
    expect((await bed.run(1, { opcode: NvmeIoOpcode.FLUSH, nsid: 0xffffffff })).status).toBe(0);
    expect(bed.backend.flushes).toBe(2);
  });

  it('writes zeroes, deallocates ranges and compares', async () => {
    const bed = await ready();
    bed.backend.data.fill(0xaa, 0, 64 * 512);
    expect(
      (await bed.run(1, { opcode: NvmeIoOpcode.WRITE_ZEROES, nsid: 1, cdw10: 4, cdw12: 3 })).status,
    ).toBe(0);
    expect(bed.backend.data.subarray(4 * 512, 8 * 512).every((b) => b === 0)).toBe(true);
    expect(bed.backend.data[8 * 512]).toBe(0xaa);
    const ranges = bed.memory.alloc(PAGE);
    const dv = new DataView(bed.memory.view(ranges, 32).buffer, bed.memory.view(ranges, 32).byteOffset, 32);
    dv.setUint32(4, 2, true);
    dv.setBigUint64(8, 20n, true);
    dv.setUint32(16 + 4, 1, true);
    dv.setBigUint64(16 + 8, 30n, true);
    expect(
      (await bed.run(1, { opcode: NvmeIoOpcode.DSM, nsid: 1, prp1: ranges, cdw10: 1, cdw11: 4 })).status,
    ).toBe(0);
    expect(bed.backend.discards).toEqual([
      { offset: 20 * 512, length: 1024 },
      { offset: 30 * 512, length: 512 },
    ]);
    dv.setBigUint64(8, 1n << 40n, true);
    expect(
      (await bed.run(1, { opcode: NvmeIoOpcode.DSM, nsid: 1, prp1: ranges, cdw10: 0, cdw11: 4 })).status,
    ).toBe(NvmeStatus.LBA_RANGE | DNR);
    const cmp = bed.memory.alloc(PAGE);
    bed.memory.view(cmp, 512).fill(0xaa);
    expect((await bed.run(1, rw(NvmeIoOpcode.COMPARE, 40, 1, { prp1: cmp }))).status).toBe(0);
    bed.memory.view(cmp, 1)[0] = 0;
    expect((await bed.run(1, rw(NvmeIoOpcode.COMPARE, 40, 1, { prp1: cmp }))).status).toBe(
      NvmeStatus.CMP_FAILURE,
    );
  });

  it('maps backend errors: EIO, ENOSPC, read-only', async () => {
    const bed = await ready();
    const buf = bed.memory.alloc(PAGE);
    bed.backend.failNext = { op: 'read', code: 'EIO' };
    expect((await bed.run(1, rw(NvmeIoOpcode.READ, 0, 1, { prp1: buf }))).status).toBe(
      NvmeStatus.UNRECOVERED_READ,
    );
    bed.backend.failNext = { op: 'write', code: 'EIO' };
    expect((await bed.run(1, rw(NvmeIoOpcode.WRITE, 0, 1, { prp1: buf }))).status).toBe(
      NvmeStatus.WRITE_FAULT,
    );
    bed.backend.failNext = { op: 'write', code: 'ENOSPC' };
    expect((await bed.run(1, rw(NvmeIoOpcode.WRITE, 0, 1, { prp1: buf }))).status).toBe(
      NvmeStatus.CAP_EXCEEDED,
    );
    bed.backend.readOnly = true;
    expect((await bed.run(1, rw(NvmeIoOpcode.WRITE, 0, 1, { prp1: buf }))).status).toBe(
      NvmeStatus.NS_WRITE_PROTECTED | DNR,
    );
    // The controller keeps working.
    expect((await bed.run(1, rw(NvmeIoOpcode.READ, 0, 1, { prp1: buf }))).status).toBe(0);
  });
});

describe('NVMe queues, arbitration and reset', () => {
  it('bounds the commands in flight', async () => {
    const bed = await ready({ maxInflight: 4 });
    bed.backend.hold();
    const buf = bed.memory.alloc(PAGE);
    const done: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      const cid = bed.place(1, rw(NvmeIoOpcode.READ, i, 1, { prp1: buf }));
      done.push(bed.expect(1, cid));
    }
    bed.ring(1);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(bed.controller.inflight).toBe(4);
    bed.backend.release();
    await bed.pump();
    expect(await Promise.all(done)).toHaveLength(10);
  });

  it('serves submission queues round robin with the arbitration burst', async () => {
    const bed = new NvmeTestBed();
    bed.enable();
    await bed.createIoQueuePair(1);
    await bed.createIoQueuePair(2);
    await bed.run(0, { opcode: NvmeAdminOpcode.SET_FEATURES, cdw10: NvmeFeature.ARBITRATION, cdw11: 0 });
    const order: number[] = [];
    const read = bed.backend.readv.bind(bed.backend);
    bed.backend.readv = (offset, iov) => {
      order.push(offset / 512);
      return read(offset, iov);
    };
    const buf = bed.memory.alloc(PAGE);
    for (let i = 0; i < 3; i++) bed.place(1, rw(NvmeIoOpcode.READ, 100 + i, 1, { prp1: buf }));
    for (let i = 0; i < 3; i++) bed.place(2, rw(NvmeIoOpcode.READ, 200 + i, 1, { prp1: buf }));
    bed.ring(1);
    bed.ring(2);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    bed.reap();
    expect(order).toEqual([100, 200, 101, 201, 102, 202]);
  });

  it('holds CSTS.RDY until I/O in flight drains on a controller reset, and then writes no guest memory', async () => {
    const bed = await ready();
    bed.memory.mode = 'message';
    bed.backend.data.fill(0x5a, 0, 4096);
    const buf = bed.memory.alloc(PAGE);
    bed.backend.hold();
    bed.place(1, rw(NvmeIoOpcode.READ, 0, 8, { prp1: buf }));
    bed.ring(1);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(bed.controller.inflight).toBe(1);
    bed.controller.write(NvmeReg.CC, 0, 4);
    expect(bed.reg32(NvmeReg.CSTS) & 1).toBe(1);
    const cqBefore = bed.memory.view(bed.queues.get(1)!.cqBase, 16).slice();
    bed.backend.release();
    await bed.controller.drain();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(bed.reg32(NvmeReg.CSTS) & 1).toBe(0);
    expect(bed.memory.view(buf, 4096).every((b) => b === 0)).toBe(true);
    expect(bed.memory.view(bed.queues.get(1)!.cqBase, 16)).toEqual(cqBefore);
  });

  it('defers a re-enable that arrives while the reset drains', async () => {
    const bed = await ready();
    const buf = bed.memory.alloc(PAGE);
    bed.backend.hold();
    bed.place(1, rw(NvmeIoOpcode.READ, 0, 8, { prp1: buf }));
    bed.ring(1);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    const reset = bed.controller.reset();
    bed.enable();
    expect(bed.reg32(NvmeReg.CSTS) & 1).toBe(0);
    bed.backend.release();
    await reset;
    expect(bed.reg32(NvmeReg.CSTS) & 1).toBe(1);
    const cqe = await bed.run(0, { opcode: NvmeAdminOpcode.IDENTIFY, prp1: buf, cdw10: 1 });
    expect(cqe.status).toBe(0);
  });

  it('uses the shadow doorbell tail and publishes EventIdx', async () => {
    const bed = await ready();
    const dbs = bed.memory.alloc(PAGE);
    const eis = bed.memory.alloc(PAGE);
    expect((await bed.run(0, { opcode: NvmeAdminOpcode.DBBUF_CONFIG, prp1: dbs, prp2: eis })).status).toBe(0);
    const buf = bed.memory.alloc(PAGE);
    const shadow = new DataView(bed.memory.view(dbs, 64).buffer, bed.memory.view(dbs, 64).byteOffset, 64);
    const events = new DataView(bed.memory.view(eis, 64).buffer, bed.memory.view(eis, 64).byteOffset, 64);
    const a = bed.place(1, rw(NvmeIoOpcode.READ, 0, 1, { prp1: buf }));
    const b = bed.place(1, rw(NvmeIoOpcode.READ, 1, 1, { prp1: buf }));
    const done = [bed.expect(1, a), bed.expect(1, b)];
    shadow.setUint32(8, 2, true);
    // A stale MMIO value: the controller reads the tail from the shadow slot.
    bed.controller.write(0x1000 + 8, 1, 4);
    await bed.pump();
    await Promise.all(done);
    expect(events.getUint32(8, true)).toBe(2);
    expect(
      (await bed.run(0, { opcode: NvmeAdminOpcode.DBBUF_CONFIG, prp1: dbs + 8n, prp2: eis })).status,
    ).toBe(NvmeStatus.INVALID_FIELD | DNR);
  });

  it('signals MSI-X per completion queue vector', async () => {
    const bed = new NvmeTestBed();
    bed.enable();
    await bed.createIoQueuePair(1, 16, 3);
    bed.interrupts.notified.length = 0;
    const buf = bed.memory.alloc(PAGE);
    await bed.run(1, rw(NvmeIoOpcode.READ, 0, 1, { prp1: buf }));
    expect(bed.interrupts.notified).toEqual([3]);
  });

  it('drives INTx from pending completions, masked by INTMS and cleared by the CQ head', async () => {
    const bed = new NvmeTestBed();
    bed.interrupts.current = 'intx';
    bed.enable();
    const buf = bed.memory.alloc(PAGE);
    bed.controller.write(NvmeReg.INTMS, 1, 4);
    const cid = bed.place(0, { opcode: NvmeAdminOpcode.IDENTIFY, prp1: buf, cdw10: 1 });
    bed.ring(0);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(bed.interrupts.intx).toBe(false);
    bed.controller.write(NvmeReg.INTMC, 1, 4);
    expect(bed.interrupts.intx).toBe(true);
    const done = bed.expect(0, cid);
    await bed.pump();
    await done;
    expect(bed.interrupts.intx).toBe(false);
    // A vector other than 0 needs MSI-X.
    const cq = bed.memory.alloc(PAGE);
    const r = await bed.run(0, {
      opcode: NvmeAdminOpcode.CREATE_CQ,
      prp1: cq,
      cdw10: (15 << 16) | 1,
      cdw11: (2 << 16) | 3,
    });
    expect(r.status).toBe(NvmeStatus.INVALID_IRQ_VECTOR | DNR);
  });
});
