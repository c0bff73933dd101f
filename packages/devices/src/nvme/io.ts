/**
 * NVM command set I/O commands (NVMe 1.4 section 6): Read, Write, Flush, Write Zeroes, Dataset
 * Management (deallocate) and Compare, between a namespace's block backend and guest memory.
 * On the mmap path data moves between the backend and guest memory views with no copy; otherwise
 * through a bounce buffer and DMA messages. Statuses for bad commands are QEMU's.
 */

import { NVME_NSID_BROADCAST, NvmeIoOpcode, NvmeStatus } from './constants';
import {
  copyFromGuest,
  copyToGuest,
  type DataPointerContext,
  type DmaSegment,
  type MapResult,
  mapDataPointer,
  mapSegments,
} from './data-pointer';
import type { SmartCounters } from './identify';
import type { NvmeNamespace } from './namespace';
import type { NvmeRequest, NvmeResult } from './queues';

const DNR = NvmeStatus.DNR;
const OK: NvmeResult = Object.freeze({ status: NvmeStatus.SUCCESS });

/** Most ranges a Dataset Management command carries (NR is 8 bits, 0's based). */
export const NVME_DSM_MAX_RANGES = 256;

/** What I/O commands need from the controller. */
export interface IoContext extends DataPointerContext {
  /** Largest transfer in bytes (from MDTS and CAP.MPSMIN); 0 means no limit. */
  readonly maxTransferBytes: number;
  /** Volatile Write Cache feature: when off, every write is written through (FUA). */
  readonly writeCacheEnabled: boolean;
  /** Counters of the SMART log. */
  readonly counters: SmartCounters;
  /** The active namespace `nsid`, if any. */
  namespace(nsid: number): NvmeNamespace | undefined;
  /** Every active namespace. */
  namespaces(): Iterable<NvmeNamespace>;
  /** Whether `nsid` is a valid id (1..NN), active or not. */
  nsidValid(nsid: number): boolean;
  /** Whether `request` still belongs to the running controller (no reset since it was fetched). */
  isCurrent(request: NvmeRequest): boolean;
  /** Reports a command the guest got wrong. */
  guestError(request: NvmeRequest, message: string): void;
}

function failed(ctx: IoContext, req: NvmeRequest, status: number, message: string): NvmeResult {
  ctx.guestError(req, message);
  return { status };
}

function errorCode(error: unknown): string | number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  // @vfu/block errors carry `errnoName` ('EIO') and a numeric errno; Node's fs errors `code`.
  const e = error as { code?: unknown; errno?: unknown; errnoName?: unknown };
  if (typeof e.errnoName === 'string') return e.errnoName;
  if (typeof e.errno === 'string') return e.errno;
  if (typeof e.errno === 'number') return Math.abs(e.errno);
  if (typeof e.code === 'string') return e.code;
  return undefined;
}

/**
 * The NVMe status for a backend failure: EIO is an Unrecovered Read Error on reads and a Write
 * Fault on writes, ENOSPC is Capacity Exceeded, a read-only backend Namespace Is Write Protected.
 */
export function backendErrorStatus(error: unknown, kind: 'read' | 'write' | 'other'): number {
  const code = errorCode(error);
  if (code === 'ENOSPC' || code === 28) return NvmeStatus.CAP_EXCEEDED;
  if (code === 'EROFS' || code === 30 || code === 'EPERM' || code === 1 || code === 'EACCES' || code === 13) {
    return NvmeStatus.NS_WRITE_PROTECTED | DNR;
  }
  if (kind === 'read') return NvmeStatus.UNRECOVERED_READ;
  if (kind === 'write') return NvmeStatus.WRITE_FAULT;
  return NvmeStatus.INTERNAL_DEV_ERROR;
}

/** Runs one I/O command; never throws (backend failures become statuses). */
export function executeIo(ctx: IoContext, req: NvmeRequest): NvmeResult | Promise<NvmeResult> {
  const op = req.opcode;
  if (op === NvmeIoOpcode.FLUSH && req.nsid === NVME_NSID_BROADCAST) return flushAll(ctx);
  if (!ctx.nsidValid(req.nsid))
    return failed(ctx, req, NvmeStatus.INVALID_NSID | DNR, `invalid nsid ${req.nsid}`);
  const ns = ctx.namespace(req.nsid);
  if (ns === undefined)
    return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `namespace ${req.nsid} is not active`);
  switch (op) {
    case NvmeIoOpcode.READ:
      return readWrite(ctx, req, ns, false);
    case NvmeIoOpcode.WRITE:
      return readWrite(ctx, req, ns, true);
    case NvmeIoOpcode.FLUSH:
      return ns.backend.flush().then(
        () => OK,
        (e: unknown) => ({ status: backendErrorStatus(e, 'write') }),
      );
    case NvmeIoOpcode.WRITE_ZEROES:
      return writeZeroes(ctx, req, ns);
    case NvmeIoOpcode.DSM:
      return datasetManagement(ctx, req, ns);
    case NvmeIoOpcode.COMPARE:
      return compare(ctx, req, ns);
    default:
      return failed(ctx, req, NvmeStatus.INVALID_OPCODE | DNR, `invalid I/O opcode 0x${op.toString(16)}`);
  }
}

async function flushAll(ctx: IoContext): Promise<NvmeResult> {
  try {
    await Promise.all([...ctx.namespaces()].map((ns) => ns.backend.flush()));
    return OK;
  } catch (e) {
    return { status: backendErrorStatus(e, 'write') };
  }
}

/** Validates SLBA/NLB of a read, write or compare; a status, or the byte range. */
function checkRange(
  ctx: IoContext,
  req: NvmeRequest,
  ns: NvmeNamespace,
  checkMdts: boolean,
): { status: number } | { offset: number; length: number } {
  const slba = req.cmd.getBigUint64(40, true);
  const nlb = (req.cmd.getUint32(48, true) & 0xffff) + 1;
  const length = nlb * ns.logicalBlockSize;
  if (checkMdts && ctx.maxTransferBytes > 0 && length > ctx.maxTransferBytes) {
    ctx.guestError(req, `transfer of ${length} bytes exceeds MDTS (${ctx.maxTransferBytes} bytes)`);
    return { status: NvmeStatus.INVALID_FIELD | DNR };
  }
  if (slba + BigInt(nlb) > BigInt(ns.blocks)) {
    ctx.guestError(req, `LBA range ${slba}+${nlb} exceeds namespace size ${ns.blocks}`);
    return { status: NvmeStatus.LBA_RANGE | DNR };
  }
  return { offset: Number(slba) * ns.logicalBlockSize, length };
}

function withMapping(
  ctx: IoContext,
  req: NvmeRequest,
  mapped: Promise<MapResult> | MapResult,
  then: (segments: DmaSegment[]) => Promise<NvmeResult>,
): Promise<NvmeResult> {
  const go = (m: MapResult): Promise<NvmeResult> | NvmeResult => {
    if (m.status !== 0) return failed(ctx, req, m.status, 'reason' in m ? m.reason : 'bad data pointer');
    return then((m as { segments: DmaSegment[] }).segments);
  };
  return mapped instanceof Promise ? mapped.then(go) : Promise.resolve(go(mapped));
}

function readWrite(
  ctx: IoContext,
  req: NvmeRequest,
  ns: NvmeNamespace,
  write: boolean,
): NvmeResult | Promise<NvmeResult> {
  if (write && ns.backend.readOnly) {
    return failed(ctx, req, NvmeStatus.NS_WRITE_PROTECTED | DNR, `write to read-only namespace ${ns.nsid}`);
  }
  const range = checkRange(ctx, req, ns, true);
  if ('status' in range) return range;
  const { offset, length } = range;
  const fua = (req.cmd.getUint32(48, true) & (1 << 30)) !== 0 || !ctx.writeCacheEnabled;
  const mapped = mapDataPointer(ctx, req.cmd, length, write ? 'from-guest' : 'to-guest');
  return withMapping(ctx, req, mapped, async (segments) => {
    try {
      if (write) {
        const iov = mapSegments(ctx.dma, segments, false);
        if (iov !== undefined) {
          await ns.backend.writev(offset, iov, { fua });
        } else {
          const bounce = new Uint8Array(length);
          if (!(await copyFromGuest(ctx.dma, segments, bounce))) {
            return failed(ctx, req, NvmeStatus.DATA_TRAS_ERROR, 'write data is outside guest memory');
          }
          await ns.backend.writev(offset, [bounce], { fua });
        }
        ctx.counters.bytesWritten += length;
        ctx.counters.writeCommands++;
      } else {
        const iov = mapSegments(ctx.dma, segments, true);
        if (iov !== undefined) {
          await ns.backend.readv(offset, iov);
        } else {
          const bounce = new Uint8Array(length);
          await ns.backend.readv(offset, [bounce]);
          // After a reset the guest memory may belong to someone else: do not write it.
          if (!ctx.isCurrent(req)) return { status: NvmeStatus.CMD_ABORT_REQ };
          if (!(await copyToGuest(ctx.dma, segments, bounce))) {
            return failed(ctx, req, NvmeStatus.DATA_TRAS_ERROR, 'read buffer is outside guest memory');
          }
        }
        ctx.counters.bytesRead += length;
        ctx.counters.readCommands++;
      }
      return OK;
    } catch (e) {
      return { status: backendErrorStatus(e, write ? 'write' : 'read') };
    }
  });
}

function writeZeroes(ctx: IoContext, req: NvmeRequest, ns: NvmeNamespace): NvmeResult | Promise<NvmeResult> {
  if (ns.backend.readOnly) {
    return failed(
      ctx,
      req,
      NvmeStatus.NS_WRITE_PROTECTED | DNR,
      `write zeroes to read-only namespace ${ns.nsid}`,
    );
  }
  const range = checkRange(ctx, req, ns, false);
  if ('status' in range) return range;
  const cdw12 = req.cmd.getUint32(48, true);
  const fua = (cdw12 & (1 << 30)) !== 0 || !ctx.writeCacheEnabled;
  const mayUnmap = (cdw12 & (1 << 25)) !== 0;
  return ns.backend.writeZeroes(range.offset, range.length, { fua, mayUnmap }).then(
    () => {
      ctx.counters.writeCommands++;
      return OK;
    },
    (e: unknown) => ({ status: backendErrorStatus(e, 'write') }),
  );
}

function datasetManagement(
  ctx: IoContext,
  req: NvmeRequest,
  ns: NvmeNamespace,
): Promise<NvmeResult> | NvmeResult {
  const nr = (req.cmd.getUint32(40, true) & 0xff) + 1;
  const deallocate = (req.cmd.getUint32(44, true) & (1 << 2)) !== 0;
  // Integral read/write hints (IDR/IDW) are advisory; only deallocation changes anything.
  if (!deallocate) return OK;
  if (ns.backend.readOnly) {
    return failed(
      ctx,
      req,
      NvmeStatus.NS_WRITE_PROTECTED | DNR,
      `deallocate on read-only namespace ${ns.nsid}`,
    );
  }
  const length = nr * 16;
  return withMapping(ctx, req, mapDataPointer(ctx, req.cmd, length, 'from-guest'), async (segments) => {
    const raw = new Uint8Array(length);
    if (!(await copyFromGuest(ctx.dma, segments, raw))) {
      return failed(ctx, req, NvmeStatus.DATA_TRAS_ERROR, 'range list is outside guest memory');
    }
    const dv = new DataView(raw.buffer);
    const ranges: { offset: number; length: number }[] = [];
    for (let i = 0; i < nr; i++) {
      const nlb = dv.getUint32(i * 16 + 4, true);
      const slba = dv.getBigUint64(i * 16 + 8, true);
      if (slba + BigInt(nlb) > BigInt(ns.blocks)) {
        return failed(
          ctx,
          req,
          NvmeStatus.LBA_RANGE | DNR,
          `deallocate range ${slba}+${nlb} exceeds namespace size`,
        );
      }
      if (nlb > 0)
        ranges.push({ offset: Number(slba) * ns.logicalBlockSize, length: nlb * ns.logicalBlockSize });
    }
    try {
      for (const r of ranges) await ns.backend.discard(r.offset, r.length);
      return OK;
    } catch (e) {
      return { status: backendErrorStatus(e, 'write') };
    }
  });
}

function compare(ctx: IoContext, req: NvmeRequest, ns: NvmeNamespace): NvmeResult | Promise<NvmeResult> {
  const range = checkRange(ctx, req, ns, true);
  if ('status' in range) return range;
  const { offset, length } = range;
  return withMapping(ctx, req, mapDataPointer(ctx, req.cmd, length, 'from-guest'), async (segments) => {
    const stored = new Uint8Array(length);
    const given = new Uint8Array(length);
    try {
      await ns.backend.readv(offset, [stored]);
    } catch (e) {
      return { status: backendErrorStatus(e, 'read') };
    }
    if (!(await copyFromGuest(ctx.dma, segments, given))) {
      return failed(ctx, req, NvmeStatus.DATA_TRAS_ERROR, 'compare buffer is outside guest memory');
    }
    ctx.counters.bytesRead += length;
    ctx.counters.readCommands++;
    return bytesEqual(stored, given) ? OK : { status: NvmeStatus.CMP_FAILURE };
  });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
