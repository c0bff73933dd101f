import { describe, expect, it } from 'vitest';
import { NvmeTestBed } from '../../test/nvme-harness';
import {
  NVME_CSTS_FAILED,
  NVME_CSTS_READY,
  NVME_CSTS_SHST_COMPLETE,
  NvmeAdminOpcode,
  NvmeFeature,
  NvmeIoOpcode,
  NvmeLogPage,
  NvmeReg,
  NvmeStatus,
} from './constants';
import { nvmeBarLayout } from './controller';

const DNR = NvmeStatus.DNR;

describe('NVMe controller registers', () => {
  it('reports QEMU CAP and VS values and reset state', () => {
    const bed = new NvmeTestBed();
    expect(bed.controller.read64(NvmeReg.CAP)).toBe(0x004008200f0107ffn);
    expect(bed.reg32(NvmeReg.VS)).toBe(0x00010400);
    expect(bed.reg32(NvmeReg.CC)).toBe(0);
    expect(bed.reg32(NvmeReg.CSTS)).toBe(0);
    expect(bed.controller.read(NvmeReg.CAP + 2, 2)).toBe(0x0f01);
  });

  it('lays BAR0 out as QEMU: 16 KiB, MSI-X table at 0x2000 and PBA at 0x3000 by default', () => {
    expect(nvmeBarLayout(64, 65)).toEqual({
      registerSize: 0x1208,
      msixTableOffset: 0x2000,
      msixPbaOffset: 0x3000,
      barSize: 0x4000,
    });
    expect(nvmeBarLayout(1, 2).barSize).toBe(0x4000);
    expect(nvmeBarLayout(64, 128).barSize).toBe(0x4000);
  });

  it('masks the low 12 bits of ASQ and ACQ and keeps AQA fields', () => {
    const bed = new NvmeTestBed();
    bed.controller.write64(NvmeReg.ASQ, 0x1_2345_6789n);
    bed.controller.write(NvmeReg.AQA, 0xffffffff, 4);
    expect(bed.controller.read64(NvmeReg.ASQ)).toBe(0x1_2345_6000n);
    expect(bed.reg32(NvmeReg.AQA)).toBe(0x0fff0fff);
  });

  it('logs and ignores misaligned and sub-dword register writes', () => {
    const bed = new NvmeTestBed();
    bed.controller.write(NvmeReg.CC + 1, 1, 1);
    bed.controller.write(NvmeReg.CC, 1, 2);
    expect(bed.reg32(NvmeReg.CC)).toBe(0);
    expect(bed.log.guestErrors).toHaveLength(2);
  });

  it('sets CSTS.RDY on enable and clears it on disable', () => {
    const bed = new NvmeTestBed();
    bed.enable();
    expect(bed.reg32(NvmeReg.CSTS)).toBe(NVME_CSTS_READY);
    bed.controller.write(NvmeReg.CC, 0, 4);
    expect(bed.reg32(NvmeReg.CSTS)).toBe(0);
  });

  it('fails the enable (CSTS.CFS) with bad IOSQES or zero-sized admin queues', () => {
    const bed = new NvmeTestBed();
    bed.controller.write(NvmeReg.AQA, 0, 4);
    bed.controller.write(NvmeReg.CC, (6 << 16) | (4 << 20) | 1, 4);
    expect(bed.reg32(NvmeReg.CSTS)).toBe(NVME_CSTS_FAILED);
    expect(bed.log.guestErrors.at(-1)?.message).toMatch(/admin queue sizes/);
    const other = new NvmeTestBed();
    other.controller.write(NvmeReg.AQA, 0x001f001f, 4);
    other.controller.write(NvmeReg.CC, 1, 4);
    expect(other.reg32(NvmeReg.CSTS)).toBe(NVME_CSTS_FAILED);
  });

  it('completes a normal shutdown after flushing the backend', async () => {
    const bed = new NvmeTestBed();
    bed.enable();
    bed.controller.write(NvmeReg.CC, bed.reg32(NvmeReg.CC) | (1 << 14), 4);
    expect(bed.reg32(NvmeReg.CSTS) & 0xc).toBe(1 << 2);
    await bed.controller.drain();
    for (let i = 0; i < 5 && (bed.reg32(NvmeReg.CSTS) & 0xc) !== NVME_CSTS_SHST_COMPLETE; i++) {
      await new Promise((r) => setImmediate(r));
    }
    expect(bed.reg32(NvmeReg.CSTS) & 0xc).toBe(NVME_CSTS_SHST_COMPLETE);
    expect(bed.backend.flushes).toBe(1);
  });
});

describe('NVMe admin commands', () => {
  it('identifies the controller with QEMU strings and limits', async () => {
    const bed = new NvmeTestBed();
    bed.enable();
    const buf = bed.memory.alloc(4096);
    const cqe = await bed.run(0, { opcode: NvmeAdminOpcode.IDENTIFY, prp1: buf, cdw10: 1 });
    expect(cqe.status).toBe(0);
    const id = bed.memory.view(buf, 4096);
    const text = (o: number, n: number): string => new TextDecoder().decode(id.subarray(o, o + n));
    expect(new DataView(id.buffer, id.byteOffset).getUint16(0, true)).toBe(0x1b36);
    expect(text(4, 20)).toBe('deadbeef            ');
    expect(text(24, 40).trimEnd()).toBe('QEMU NVMe Ctrl');
    expect(id[77]).toBe(7);
    expect(id[512]).toBe(0x66);
    expect(id[513]).toBe(0x44);
    expect(text(768, 29)).toBe('nqn.2019-08.org.qemu:deadbeef');
  });

  it('identifies namespace 1 with its size and LBA format, and lists it as active', async () => {
    const bed = new NvmeTestBed({ backendSize: 64 << 20, logicalBlockSize: 4096 });
    bed.enable();
    const buf = bed.memory.alloc(4096);
    expect(
      (await bed.run(0, { opcode: NvmeAdminOpcode.IDENTIFY, nsid: 1, prp1: buf, cdw10: 0 })).status,
    ).toBe(0);
    const dv = new DataView(bed.memory.view(buf, 4096).buffer, bed.memory.view(buf, 4096).byteOffset);
    expect(dv.getBigUint64(0, true)).toBe(16384n);
    expect(dv.getUint8(26)).toBe(1);
    expect(dv.getUint8(132 + 2)).toBe(12);
    expect(
      (await bed.run(0, { opcode: NvmeAdminOpcode.IDENTIFY, nsid: 0, prp1: buf, cdw10: 2 })).status,
    ).toBe(0);
    expect(dv.getUint32(0, true)).toBe(1);
    expect(dv.getUint32(4, true)).toBe(0);
    expect(
      (await bed.run(0, { opcode: NvmeAdminOpcode.IDENTIFY, nsid: 1, prp1: buf, cdw10: 3 })).status,
    ).toBe(0);
    expect([dv.getUint8(0), dv.getUint8(1), dv.getUint8(20), dv.getUint8(21)]).toEqual([3, 16, 4, 1]);
  });

  it('answers Identify with an invalid nsid or CNS with QEMU statuses', async () => {
    const bed = new NvmeTestBed();
    bed.enable();
    const buf = bed.memory.alloc(4096);
    expect(
      (await bed.run(0, { opcode: NvmeAdminOpcode.IDENTIFY, nsid: 0, prp1: buf, cdw10: 0 })).status,
    ).toBe(NvmeStatus.INVALID_NSID | DNR);
    expect(
      (await bed.run(0, { opcode: NvmeAdminOpcode.IDENTIFY, nsid: 1, prp1: buf, cdw10: 0x42 })).status,
    ).toBe(NvmeStatus.INVALID_FIELD | DNR);
    expect((await bed.run(0, { opcode: 0xee })).status).toBe(NvmeStatus.INVALID_OPCODE | DNR);
  });

  it('reports max_ioqpairs through Number of Queues and refuses it once queues exist', async () => {
    const bed = new NvmeTestBed({ maxIoQueuePairs: 4 });
    bed.enable();
    const set = await bed.run(0, {
      opcode: NvmeAdminOpcode.SET_FEATURES,
      cdw10: NvmeFeature.NUMBER_OF_QUEUES,
      cdw11: 0x00ff00ff,
    });
    expect(set.dw0).toBe(0x00030003);
    await bed.createIoQueuePair(1);
    const again = await bed.run(0, {
      opcode: NvmeAdminOpcode.SET_FEATURES,
      cdw10: NvmeFeature.NUMBER_OF_QUEUES,
      cdw11: 0,
    });
    expect(again.status).toBe(NvmeStatus.CMD_SEQ_ERROR | DNR);
  });

  it('rejects bad queue creation and deletion with QEMU statuses', async () => {
    const bed = new NvmeTestBed({ maxIoQueuePairs: 2 });
    bed.enable();
    const page = bed.memory.alloc(4096);
    const create = (opcode: number, cdw10: number, cdw11: number, prp1 = page) =>
      bed.run(0, { opcode, prp1, cdw10, cdw11 });
    expect((await create(NvmeAdminOpcode.CREATE_CQ, (15 << 16) | 3, 1)).status).toBe(
      NvmeStatus.INVALID_QID | DNR,
    );
    expect((await create(NvmeAdminOpcode.CREATE_CQ, (0xffff << 16) | 1, 1)).status).toBe(
      NvmeStatus.MAX_QSIZE_EXCEEDED | DNR,
    );
    expect((await create(NvmeAdminOpcode.CREATE_CQ, (15 << 16) | 1, 1, page + 8n)).status).toBe(
      NvmeStatus.INVALID_PRP_OFFSET | DNR,
    );
    expect((await create(NvmeAdminOpcode.CREATE_CQ, (15 << 16) | 1, (200 << 16) | 1)).status).toBe(
      NvmeStatus.INVALID_IRQ_VECTOR | DNR,
    );
    expect((await create(NvmeAdminOpcode.CREATE_CQ, (15 << 16) | 1, 0)).status).toBe(
      NvmeStatus.INVALID_FIELD | DNR,
    );
    expect((await create(NvmeAdminOpcode.CREATE_SQ, (15 << 16) | 1, (1 << 16) | 1)).status).toBe(
      NvmeStatus.INVALID_CQID | DNR,
    );
    await bed.createIoQueuePair(1);
    expect((await create(NvmeAdminOpcode.CREATE_CQ, (15 << 16) | 1, 1)).status).toBe(
      NvmeStatus.INVALID_QID | DNR,
    );
    expect((await bed.run(0, { opcode: NvmeAdminOpcode.DELETE_CQ, cdw10: 1 })).status).toBe(
      NvmeStatus.INVALID_QUEUE_DEL,
    );
    expect((await bed.run(0, { opcode: NvmeAdminOpcode.DELETE_SQ, cdw10: 2 })).status).toBe(
      NvmeStatus.INVALID_QID | DNR,
    );
    expect((await bed.run(0, { opcode: NvmeAdminOpcode.DELETE_SQ, cdw10: 1 })).status).toBe(0);
    expect((await bed.run(0, { opcode: NvmeAdminOpcode.DELETE_CQ, cdw10: 1 })).status).toBe(0);
    expect(bed.log.guestErrors.length).toBeGreaterThanOrEqual(8);
  });

  it('keeps features: volatile write cache, arbitration, temperature threshold, timestamp', async () => {
    const bed = new NvmeTestBed();
    bed.enable();
    const get = async (fid: number, cdw11 = 0, sel = 0) =>
      (await bed.run(0, { opcode: NvmeAdminOpcode.GET_FEATURES, cdw10: (sel << 8) | fid, cdw11 })).dw0;
    expect(await get(NvmeFeature.VOLATILE_WRITE_CACHE)).toBe(1);
    await bed.run(0, {
      opcode: NvmeAdminOpcode.SET_FEATURES,
      cdw10: NvmeFeature.VOLATILE_WRITE_CACHE,
      cdw11: 0,
    });
    expect(await get(NvmeFeature.VOLATILE_WRITE_CACHE)).toBe(0);
    expect(await get(NvmeFeature.VOLATILE_WRITE_CACHE, 0, 1)).toBe(1);
    expect(bed.backend.flushes).toBe(1);
    expect(await get(NvmeFeature.ARBITRATION)).toBe(7);
    expect(await get(NvmeFeature.TEMPERATURE_THRESHOLD)).toBe(0x157);
    await bed.run(0, {
      opcode: NvmeAdminOpcode.SET_FEATURES,
      cdw10: NvmeFeature.TEMPERATURE_THRESHOLD,
      cdw11: 0x160,
    });
    expect(await get(NvmeFeature.TEMPERATURE_THRESHOLD)).toBe(0x160);
    expect(await get(NvmeFeature.INTERRUPT_VECTOR_CONF, 0)).toBe(1 << 16);
    const ts = bed.memory.alloc(4096);
    new DataView(bed.memory.view(ts, 8).buffer, bed.memory.view(ts, 8).byteOffset).setBigUint64(
      0,
      1_700_000_000_000n,
      true,
    );
    expect(
      (await bed.run(0, { opcode: NvmeAdminOpcode.SET_FEATURES, cdw10: NvmeFeature.TIMESTAMP, prp1: ts }))
        .status,
    ).toBe(0);
    bed.memory.view(ts, 8).fill(0);
    expect(
      (await bed.run(0, { opcode: NvmeAdminOpcode.GET_FEATURES, cdw10: NvmeFeature.TIMESTAMP, prp1: ts }))
        .status,
    ).toBe(0);
    const got = new DataView(bed.memory.view(ts, 8).buffer, bed.memory.view(ts, 8).byteOffset).getBigUint64(
      0,
      true,
    );
    expect(got & 0xffffffffffffn).toBeGreaterThanOrEqual(1_700_000_000_000n);
    expect(Number(got >> 48n) & 0xe).toBe(2);
    expect(
      (await bed.run(0, { opcode: NvmeAdminOpcode.SET_FEATURES, cdw10: (1 << 31) | NvmeFeature.ARBITRATION }))
        .status,
    ).toBe(NvmeStatus.FID_NOT_SAVEABLE | DNR);
    expect((await bed.run(0, { opcode: NvmeAdminOpcode.GET_FEATURES, cdw10: 0x7f })).status).toBe(
      NvmeStatus.INVALID_FIELD | DNR,
    );
  });

  it('counts host commands and data units in the SMART log', async () => {
    const bed = new NvmeTestBed();
    bed.enable();
    await bed.createIoQueuePair(1);
    const data = bed.memory.alloc(4096);
    for (let i = 0; i < 3; i++)
      await bed.run(1, { opcode: NvmeIoOpcode.WRITE, nsid: 1, prp1: data, cdw10: i * 8, cdw12: 7 });
    await bed.run(1, { opcode: NvmeIoOpcode.READ, nsid: 1, prp1: data, cdw12: 7 });
    const log = bed.memory.alloc(4096);
    const numd = 512 / 4 - 1;
    const cqe = await bed.run(0, {
      opcode: NvmeAdminOpcode.GET_LOG_PAGE,
      prp1: log,
      cdw10: (numd << 16) | NvmeLogPage.SMART_INFO,
    });
    expect(cqe.status).toBe(0);
    const dv = new DataView(bed.memory.view(log, 512).buffer, bed.memory.view(log, 512).byteOffset);
    expect(dv.getBigUint64(32, true)).toBe(1n); // 8 sectors read: rounds up to one unit
    expect(dv.getBigUint64(64, true)).toBe(1n);
    expect(dv.getBigUint64(80, true)).toBe(3n);
    expect(dv.getUint16(1, true)).toBe(0x143);
    const bad = await bed.run(0, {
      opcode: NvmeAdminOpcode.GET_LOG_PAGE,
      prp1: log,
      cdw10: (numd << 16) | 0x7e,
    });
    expect(bad.status).toBe(NvmeStatus.INVALID_FIELD | DNR);
  });

  it('raises the Invalid Doorbell event for a doorbell of a missing queue, once until the log is read', async () => {
    const bed = new NvmeTestBed();
    bed.enable();
    const aer = bed.submit(0, { opcode: NvmeAdminOpcode.ASYNC_EV_REQ });
    const aer2 = bed.submit(0, { opcode: NvmeAdminOpcode.ASYNC_EV_REQ });
    await new Promise((r) => setImmediate(r));
    bed.controller.write(0x1000 + 5 * 8, 1, 4);
    await bed.pump(100).catch(() => undefined);
    const event = await aer;
    expect(event.status).toBe(0);
    expect(event.dw0).toBe(NvmeLogPage.ERROR_INFO << 16);
    // Masked until the error log is read: the second request waits.
    bed.controller.write(0x1000 + 5 * 8, 1, 4);
    bed.controller.write(0x1000 + 0 * 8, 99, 4);
    const log = bed.memory.alloc(4096);
    await bed.run(0, {
      opcode: NvmeAdminOpcode.GET_LOG_PAGE,
      prp1: log,
      cdw10: (15 << 16) | NvmeLogPage.ERROR_INFO,
    });
    const second = await aer2;
    expect(second.dw0).toBe(NvmeLogPage.ERROR_INFO << 16);
    expect(bed.log.guestErrors.some((e) => /does not exist/.test(e.message))).toBe(true);
    expect(bed.log.guestErrors.some((e) => /32-entry queue/.test(e.message))).toBe(true);
  });

  it('refuses more Asynchronous Event Requests than AERL + 1', async () => {
    const bed = new NvmeTestBed({ aerl: 0 });
    bed.enable();
    bed.place(0, { opcode: NvmeAdminOpcode.ASYNC_EV_REQ });
    const second = await bed.run(0, { opcode: NvmeAdminOpcode.ASYNC_EV_REQ });
    expect(second.status).toBe(NvmeStatus.AER_LIMIT_EXCEEDED);
  });
});
