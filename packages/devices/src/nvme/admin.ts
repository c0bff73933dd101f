/**
 * Admin commands (NVMe 1.4 section 5) as QEMU's controller implements them: Identify, queue
 * creation and deletion, Get/Set Features, Get Log Page, Asynchronous Event Request, Abort and
 * Doorbell Buffer Config. Statuses for bad commands are QEMU's, and each is logged as a guest
 * error.
 */

import {
  NVME_CSI_NVM,
  NVME_NSID_BROADCAST,
  NVME_TEMPERATURE_WARNING,
  NvmeAdminOpcode,
  NvmeAerType,
  NvmeFeature,
  NvmeIdCns,
  NvmeLogPage,
  NvmeStatus,
} from './constants';
import { copyFromGuest, copyToGuest, type DataPointerContext, mapDataPointer } from './data-pointer';
import {
  type ControllerIdentity,
  commandEffectsLog,
  type ErrorLogEntry,
  errorLog,
  firmwareSlotLog,
  identifyController,
  identifyControllerNvm,
  identifyNamespace,
  NVME_IDENTIFY_DATA_SIZE,
  namespaceDescriptors,
  namespaceIdList,
  type SmartCounters,
  smartLog,
} from './identify';
import type { NvmeNamespace } from './namespace';
import type { CompletionQueue, NvmeRequest, NvmeResult, SubmissionQueue } from './queues';
import type { NvmeInterruptMode } from './types';

const DNR = NvmeStatus.DNR;
const OK: NvmeResult = Object.freeze({ status: NvmeStatus.SUCCESS });

/** Current values of the features the controller keeps (NVMe 1.4 section 5.21.1). */
export interface NvmeFeatures {
  arbitration: number;
  powerState: number;
  temperatureOver: number;
  temperatureUnder: number;
  errorRecovery: number;
  writeCacheEnabled: boolean;
  interruptCoalescing: number;
  /** Coalescing Disable bit per interrupt vector. */
  coalescingDisabled: Uint8Array;
  writeAtomicity: number;
  asyncEventConfig: number;
}

/** Feature values after a controller reset. */
export function defaultFeatures(vectors: number): NvmeFeatures {
  return {
    arbitration: 7, // AB 111b: no burst limit, as QEMU
    powerState: 0,
    temperatureOver: NVME_TEMPERATURE_WARNING,
    temperatureUnder: 0,
    errorRecovery: 0,
    writeCacheEnabled: true,
    interruptCoalescing: 0,
    coalescingDisabled: new Uint8Array(vectors),
    writeAtomicity: 0,
    asyncEventConfig: 0,
  };
}

/** What admin commands need from the controller. */
export interface AdminContext extends DataPointerContext {
  readonly maxTransferBytes: number;
  /** I/O queue pairs configured (`max_ioqpairs`). */
  readonly ioQueuePairs: number;
  /** MSI-X table size (`msix_qsize`). */
  readonly vectors: number;
  /** CAP.MQES: largest queue size, 0's based. */
  readonly mqes: number;
  /** Largest number of outstanding Asynchronous Event Requests, 0's based. */
  readonly aerl: number;
  readonly identity: ControllerIdentity;
  readonly features: NvmeFeatures;
  readonly counters: SmartCounters;
  /** Composite temperature in kelvin. */
  readonly temperature: number;
  interruptMode(): NvmeInterruptMode;
  sq(sqid: number): SubmissionQueue | undefined;
  cq(cqid: number): CompletionQueue | undefined;
  /** An I/O queue was created since the last reset (Number of Queues may no longer change). */
  readonly queuesCreated: boolean;
  createCq(cqid: number, size: number, base: bigint, vector: number, irqEnabled: boolean): void;
  createSq(sqid: number, cq: CompletionQueue, size: number, base: bigint): void;
  /** Deletes `sq` once its outstanding commands completed. */
  deleteSq(sq: SubmissionQueue): Promise<void>;
  deleteCq(cq: CompletionQueue): void;
  namespace(nsid: number): NvmeNamespace | undefined;
  namespaces(): Iterable<NvmeNamespace>;
  nsidValid(nsid: number): boolean;
  /** Parks an Asynchronous Event Request; completed when an event is due. */
  parkAer(request: NvmeRequest): void;
  outstandingAers(): number;
  /** Unmasks events of `type` after the host read their log page (RAE clear). */
  clearEvents(type: number): void;
  /** Raises an asynchronous event. */
  enqueueEvent(type: number, info: number, logPage: number): void;
  errorLogEntries(): readonly ErrorLogEntry[];
  powerOnHours(): number;
  /** Timestamp feature: milliseconds since the epoch as the host set it, and whether it did. */
  timestamp(): { ms: bigint; setByHost: boolean };
  setTimestamp(ms: bigint): void;
  configureShadowDoorbells(doorbells: bigint, eventIdx: bigint): void;
  guestError(request: NvmeRequest, message: string): void;
}

function failed(ctx: AdminContext, req: NvmeRequest, status: number, message: string): NvmeResult {
  ctx.guestError(req, message);
  return { status };
}

/** Transfers `data` to the host buffer of `req`; DATA_TRAS_ERROR when it is not reachable. */
async function sendToHost(ctx: AdminContext, req: NvmeRequest, data: Uint8Array): Promise<NvmeResult> {
  const mapped = await mapDataPointer(ctx, req.cmd, data.length, 'to-guest');
  if (mapped.status !== 0) return failed(ctx, req, mapped.status, 'reason' in mapped ? mapped.reason : '');
  if (!('segments' in mapped) || !(await copyToGuest(ctx.dma, mapped.segments, data))) {
    return failed(ctx, req, NvmeStatus.DATA_TRAS_ERROR, 'data buffer is outside guest memory');
  }
  return OK;
}

/**
 * Runs one admin command. Returns `undefined` for an Asynchronous Event Request, which completes
 * later. Never throws.
 */
export function executeAdmin(
  ctx: AdminContext,
  req: NvmeRequest,
): NvmeResult | Promise<NvmeResult> | undefined {
  const c = req.cmd;
  switch (req.opcode) {
    case NvmeAdminOpcode.IDENTIFY:
      return identify(ctx, req);
    case NvmeAdminOpcode.CREATE_CQ:
      return createCq(ctx, req);
    case NvmeAdminOpcode.CREATE_SQ:
      return createSq(ctx, req);
    case NvmeAdminOpcode.DELETE_SQ: {
      const qid = c.getUint32(40, true) & 0xffff;
      const sq = qid === 0 ? undefined : ctx.sq(qid);
      if (sq === undefined)
        return failed(ctx, req, NvmeStatus.INVALID_QID | DNR, `delete of invalid SQ ${qid}`);
      return ctx.deleteSq(sq).then(() => OK);
    }
    case NvmeAdminOpcode.DELETE_CQ: {
      const qid = c.getUint32(40, true) & 0xffff;
      const cq = qid === 0 ? undefined : ctx.cq(qid);
      if (cq === undefined)
        return failed(ctx, req, NvmeStatus.INVALID_CQID | DNR, `delete of invalid CQ ${qid}`);
      if (cq.sqs.size > 0) {
        return failed(
          ctx,
          req,
          NvmeStatus.INVALID_QUEUE_DEL,
          `delete of CQ ${qid} still used by submission queues`,
        );
      }
      ctx.deleteCq(cq);
      return OK;
    }
    case NvmeAdminOpcode.GET_LOG_PAGE:
      return getLogPage(ctx, req);
    case NvmeAdminOpcode.SET_FEATURES:
      return setFeatures(ctx, req);
    case NvmeAdminOpcode.GET_FEATURES:
      return getFeatures(ctx, req);
    case NvmeAdminOpcode.ASYNC_EV_REQ:
      if (ctx.outstandingAers() > ctx.aerl) {
        return failed(
          ctx,
          req,
          NvmeStatus.AER_LIMIT_EXCEEDED,
          'too many outstanding Asynchronous Event Requests',
        );
      }
      ctx.parkAer(req);
      return undefined;
    case NvmeAdminOpcode.ABORT:
      // As QEMU: commands are never aborted (bit 0 of DW0 set: not aborted).
      return { status: NvmeStatus.SUCCESS, dw0: 1 };
    case NvmeAdminOpcode.DBBUF_CONFIG: {
      const dbs = c.getBigUint64(24, true);
      const eis = c.getBigUint64(32, true);
      const mask = BigInt(ctx.pageSize - 1);
      if ((dbs & mask) !== 0n || (eis & mask) !== 0n) {
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, 'doorbell buffers are not page aligned');
      }
      ctx.configureShadowDoorbells(dbs, eis);
      return OK;
    }
    default:
      return failed(
        ctx,
        req,
        NvmeStatus.INVALID_OPCODE | DNR,
        `invalid admin opcode 0x${req.opcode.toString(16)}`,
      );
  }
}

function identify(ctx: AdminContext, req: NvmeRequest): NvmeResult | Promise<NvmeResult> {
  const cns = req.cmd.getUint32(40, true) & 0xff;
  const csi = req.cmd.getUint32(44, true) >>> 24;
  const nsid = req.nsid;
  const badNsid = !ctx.nsidValid(nsid) || nsid === NVME_NSID_BROADCAST;
  const empty = (): Promise<NvmeResult> => sendToHost(ctx, req, new Uint8Array(NVME_IDENTIFY_DATA_SIZE));
  switch (cns) {
    case NvmeIdCns.CTRL:
      return sendToHost(ctx, req, identifyController(ctx.identity));
    case NvmeIdCns.NS:
    case NvmeIdCns.NS_PRESENT: {
      if (badNsid) return failed(ctx, req, NvmeStatus.INVALID_NSID | DNR, `identify of invalid nsid ${nsid}`);
      const ns = ctx.namespace(nsid);
      return ns === undefined ? empty() : sendToHost(ctx, req, identifyNamespace(ns));
    }
    case NvmeIdCns.CS_NS:
    case NvmeIdCns.CS_NS_PRESENT: {
      if (badNsid) return failed(ctx, req, NvmeStatus.INVALID_NSID | DNR, `identify of invalid nsid ${nsid}`);
      if (csi !== NVME_CSI_NVM)
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `unsupported CSI ${csi}`);
      return empty();
    }
    case NvmeIdCns.NS_ACTIVE_LIST:
    case NvmeIdCns.NS_PRESENT_LIST:
    case NvmeIdCns.CS_NS_ACTIVE_LIST:
    case NvmeIdCns.CS_NS_PRESENT_LIST: {
      if (nsid >= NVME_NSID_BROADCAST - 1) {
        return failed(ctx, req, NvmeStatus.INVALID_NSID | DNR, `namespace list after invalid nsid ${nsid}`);
      }
      const csSpecific = cns === NvmeIdCns.CS_NS_ACTIVE_LIST || cns === NvmeIdCns.CS_NS_PRESENT_LIST;
      if (csSpecific && csi !== NVME_CSI_NVM) {
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `unsupported CSI ${csi}`);
      }
      return sendToHost(
        ctx,
        req,
        namespaceIdList(
          [...ctx.namespaces()].map((n) => n.nsid),
          nsid,
        ),
      );
    }
    case NvmeIdCns.NS_DESCR_LIST: {
      if (badNsid) return failed(ctx, req, NvmeStatus.INVALID_NSID | DNR, `identify of invalid nsid ${nsid}`);
      const ns = ctx.namespace(nsid);
      if (ns === undefined)
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `namespace ${nsid} is not active`);
      return sendToHost(ctx, req, namespaceDescriptors(ns));
    }
    case NvmeIdCns.CS_CTRL: {
      if (csi !== NVME_CSI_NVM)
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `unsupported CSI ${csi}`);
      const first = ctx.namespace(1) ?? [...ctx.namespaces()][0];
      return sendToHost(ctx, req, identifyControllerNvm(first?.logicalBlockSize ?? 512));
    }
    case NvmeIdCns.IO_COMMAND_SET: {
      const list = new Uint8Array(NVME_IDENTIFY_DATA_SIZE);
      list[0] = 1 << NVME_CSI_NVM;
      return sendToHost(ctx, req, list);
    }
    default:
      return failed(
        ctx,
        req,
        NvmeStatus.INVALID_FIELD | DNR,
        `unsupported Identify CNS 0x${cns.toString(16)}`,
      );
  }
}

function createCq(ctx: AdminContext, req: NvmeRequest): NvmeResult {
  const dw10 = req.cmd.getUint32(40, true);
  const dw11 = req.cmd.getUint32(44, true);
  const cqid = dw10 & 0xffff;
  const qsize = dw10 >>> 16;
  const vector = dw11 >>> 16;
  const prp1 = req.cmd.getBigUint64(24, true);
  if (cqid === 0 || cqid > ctx.ioQueuePairs || ctx.cq(cqid) !== undefined) {
    return failed(ctx, req, NvmeStatus.INVALID_QID | DNR, `create of invalid or existing CQ ${cqid}`);
  }
  if (qsize === 0 || qsize > ctx.mqes) {
    return failed(
      ctx,
      req,
      NvmeStatus.MAX_QSIZE_EXCEEDED | DNR,
      `CQ ${cqid} size ${qsize + 1} is out of range`,
    );
  }
  if ((prp1 & BigInt(ctx.pageSize - 1)) !== 0n) {
    return failed(
      ctx,
      req,
      NvmeStatus.INVALID_PRP_OFFSET | DNR,
      `CQ ${cqid} address 0x${prp1.toString(16)} is not page aligned`,
    );
  }
  if ((ctx.interruptMode() !== 'msix' && vector !== 0) || vector >= ctx.vectors) {
    return failed(
      ctx,
      req,
      NvmeStatus.INVALID_IRQ_VECTOR | DNR,
      `CQ ${cqid} interrupt vector ${vector} is invalid`,
    );
  }
  if ((dw11 & 1) === 0) {
    return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `CQ ${cqid} is not physically contiguous`);
  }
  ctx.createCq(cqid, qsize + 1, prp1, vector, (dw11 & 2) !== 0);
  return OK;
}

function createSq(ctx: AdminContext, req: NvmeRequest): NvmeResult {
  const dw10 = req.cmd.getUint32(40, true);
  const dw11 = req.cmd.getUint32(44, true);
  const sqid = dw10 & 0xffff;
  const qsize = dw10 >>> 16;
  const cqid = dw11 >>> 16;
  const prp1 = req.cmd.getBigUint64(24, true);
  const cq = cqid === 0 ? undefined : ctx.cq(cqid);
  if (cq === undefined)
    return failed(ctx, req, NvmeStatus.INVALID_CQID | DNR, `SQ ${sqid} names invalid CQ ${cqid}`);
  if (sqid === 0 || sqid > ctx.ioQueuePairs || ctx.sq(sqid) !== undefined) {
    return failed(ctx, req, NvmeStatus.INVALID_QID | DNR, `create of invalid or existing SQ ${sqid}`);
  }
  if (qsize === 0 || qsize > ctx.mqes) {
    return failed(
      ctx,
      req,
      NvmeStatus.MAX_QSIZE_EXCEEDED | DNR,
      `SQ ${sqid} size ${qsize + 1} is out of range`,
    );
  }
  if ((prp1 & BigInt(ctx.pageSize - 1)) !== 0n) {
    return failed(
      ctx,
      req,
      NvmeStatus.INVALID_PRP_OFFSET | DNR,
      `SQ ${sqid} address 0x${prp1.toString(16)} is not page aligned`,
    );
  }
  if ((dw11 & 1) === 0) {
    return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `SQ ${sqid} is not physically contiguous`);
  }
  ctx.createSq(sqid, cq, qsize + 1, prp1);
  return OK;
}

function getLogPage(ctx: AdminContext, req: NvmeRequest): NvmeResult | Promise<NvmeResult> {
  const dw10 = req.cmd.getUint32(40, true);
  const dw11 = req.cmd.getUint32(44, true);
  const lid = dw10 & 0xff;
  const rae = (dw10 & (1 << 15)) !== 0;
  const numd = (dw11 & 0xffff) * 0x10000 + (dw10 >>> 16) + 1;
  const len = numd * 4;
  const off = req.cmd.getBigUint64(48, true);
  if ((off & 3n) !== 0n)
    return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `log page offset ${off} is not dword aligned`);
  if (ctx.maxTransferBytes > 0 && len > ctx.maxTransferBytes) {
    return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `log page length ${len} exceeds MDTS`);
  }
  let page: Uint8Array;
  let eventType: number | undefined;
  switch (lid) {
    case NvmeLogPage.ERROR_INFO:
      page = errorLog(ctx.errorLogEntries());
      eventType = NvmeAerType.ERROR;
      break;
    case NvmeLogPage.SMART_INFO: {
      const f = ctx.features;
      const entries = ctx.errorLogEntries();
      page = smartLog(
        ctx.counters,
        ctx.temperature,
        { over: f.temperatureOver, under: f.temperatureUnder },
        ctx.powerOnHours(),
        entries.length === 0 ? 0 : entries[entries.length - 1]!.errorCount,
      );
      eventType = NvmeAerType.SMART;
      break;
    }
    case NvmeLogPage.FW_SLOT_INFO:
      page = firmwareSlotLog(ctx.identity.firmwareRevision);
      break;
    case NvmeLogPage.CHANGED_NSLIST:
      // Namespaces never change while attached: the list is empty.
      page = new Uint8Array(4096);
      eventType = NvmeAerType.NOTICE;
      break;
    case NvmeLogPage.CMD_EFFECTS:
      page = commandEffectsLog();
      break;
    default:
      return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `unsupported log page 0x${lid.toString(16)}`);
  }
  if (off >= BigInt(page.length)) {
    return failed(
      ctx,
      req,
      NvmeStatus.INVALID_FIELD | DNR,
      `log page offset ${off} beyond its ${page.length} bytes`,
    );
  }
  if (!rae && eventType !== undefined) ctx.clearEvents(eventType);
  const start = Number(off);
  return sendToHost(ctx, req, page.subarray(start, Math.min(page.length, start + len)));
}

const CHANGEABLE_FEATURES: ReadonlySet<number> = new Set(Object.values(NvmeFeature));

function setFeatures(ctx: AdminContext, req: NvmeRequest): NvmeResult | Promise<NvmeResult> {
  const dw10 = req.cmd.getUint32(40, true);
  const dw11 = req.cmd.getUint32(44, true);
  const fid = dw10 & 0xff;
  const f = ctx.features;
  if (!CHANGEABLE_FEATURES.has(fid))
    return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `unsupported feature 0x${fid.toString(16)}`);
  if ((dw10 & (1 << 31)) !== 0)
    return failed(
      ctx,
      req,
      NvmeStatus.FID_NOT_SAVEABLE | DNR,
      `feature 0x${fid.toString(16)} cannot be saved`,
    );
  switch (fid) {
    case NvmeFeature.ARBITRATION:
      f.arbitration = dw11;
      return OK;
    case NvmeFeature.POWER_MANAGEMENT:
      if ((dw11 & 0x1f) !== 0)
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `power state ${dw11 & 0x1f} does not exist`);
      f.powerState = 0;
      return OK;
    case NvmeFeature.TEMPERATURE_THRESHOLD: {
      const tmpsel = (dw11 >>> 16) & 0xf;
      const thsel = (dw11 >>> 20) & 0x3;
      if (thsel > 1)
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `threshold type ${thsel} is reserved`);
      // Only the composite temperature sensor exists; other sensors are ignored, as QEMU does.
      if (tmpsel !== 0) return OK;
      if (thsel === 0) f.temperatureOver = dw11 & 0xffff;
      else f.temperatureUnder = dw11 & 0xffff;
      const beyond = ctx.temperature >= f.temperatureOver || ctx.temperature <= f.temperatureUnder;
      if (beyond && (f.asyncEventConfig & (1 << 1)) !== 0)
        ctx.enqueueEvent(NvmeAerType.SMART, 0x01, NvmeLogPage.SMART_INFO);
      return OK;
    }
    case NvmeFeature.ERROR_RECOVERY:
      if ((dw11 & (1 << 16)) !== 0) {
        return failed(
          ctx,
          req,
          NvmeStatus.INVALID_FIELD | DNR,
          'deallocated or unwritten logical block errors are not supported',
        );
      }
      f.errorRecovery = dw11 & 0xffff;
      return OK;
    case NvmeFeature.VOLATILE_WRITE_CACHE: {
      const enable = (dw11 & 1) !== 0;
      const wasEnabled = f.writeCacheEnabled;
      f.writeCacheEnabled = enable;
      if (!wasEnabled || enable) return OK;
      // Turning the cache off makes what is cached durable now, as later writes will be.
      return Promise.all([...ctx.namespaces()].map((ns) => ns.backend.flush())).then(
        () => OK,
        () => ({ status: NvmeStatus.INTERNAL_DEV_ERROR }),
      );
    }
    case NvmeFeature.NUMBER_OF_QUEUES: {
      if (ctx.queuesCreated)
        return failed(
          ctx,
          req,
          NvmeStatus.CMD_SEQ_ERROR | DNR,
          'Number of Queues set after I/O queues were created',
        );
      if ((dw11 & 0xffff) === 0xffff || dw11 >>> 16 === 0xffff) {
        return failed(
          ctx,
          req,
          NvmeStatus.INVALID_FIELD | DNR,
          `Number of Queues request 0x${dw11.toString(16)} is invalid`,
        );
      }
      return { status: NvmeStatus.SUCCESS, dw0: numberOfQueues(ctx) };
    }
    case NvmeFeature.INTERRUPT_COALESCING:
      f.interruptCoalescing = dw11 & 0xffff;
      return OK;
    case NvmeFeature.INTERRUPT_VECTOR_CONF: {
      const iv = dw11 & 0xffff;
      if (iv >= ctx.vectors)
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `interrupt vector ${iv} does not exist`);
      f.coalescingDisabled[iv] = (dw11 >>> 16) & 1;
      return OK;
    }
    case NvmeFeature.WRITE_ATOMICITY:
      f.writeAtomicity = dw11 & 1;
      return OK;
    case NvmeFeature.ASYNCHRONOUS_EVENT_CONF:
      f.asyncEventConfig = dw11;
      return OK;
    case NvmeFeature.TIMESTAMP:
      return (async (): Promise<NvmeResult> => {
        const mapped = await mapDataPointer(ctx, req.cmd, 8, 'from-guest');
        if (mapped.status !== 0)
          return failed(ctx, req, mapped.status, 'reason' in mapped ? mapped.reason : '');
        const raw = new Uint8Array(8);
        if (!('segments' in mapped) || !(await copyFromGuest(ctx.dma, mapped.segments, raw))) {
          return failed(ctx, req, NvmeStatus.DATA_TRAS_ERROR, 'timestamp buffer is outside guest memory');
        }
        ctx.setTimestamp(new DataView(raw.buffer).getBigUint64(0, true) & 0xffffffffffffn);
        return OK;
      })();
    default:
      return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `unsupported feature 0x${fid.toString(16)}`);
  }
}

function numberOfQueues(ctx: AdminContext): number {
  return ((ctx.ioQueuePairs - 1) | ((ctx.ioQueuePairs - 1) << 16)) >>> 0;
}

function getFeatures(ctx: AdminContext, req: NvmeRequest): NvmeResult | Promise<NvmeResult> {
  const dw10 = req.cmd.getUint32(40, true);
  const dw11 = req.cmd.getUint32(44, true);
  const fid = dw10 & 0xff;
  const sel = (dw10 >>> 8) & 0x7;
  if (!CHANGEABLE_FEATURES.has(fid))
    return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `unsupported feature 0x${fid.toString(16)}`);
  if (sel > 3)
    return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `Get Features select ${sel} is reserved`);
  if (sel === 3) {
    // Supported capabilities: changeable; Error Recovery is namespace specific. Nothing is saveable.
    return { status: NvmeStatus.SUCCESS, dw0: (1 << 2) | (fid === NvmeFeature.ERROR_RECOVERY ? 1 << 1 : 0) };
  }
  // Nothing is saveable, so the saved value is the default one.
  const f = sel === 0 ? ctx.features : defaultFeatures(ctx.vectors);
  const result = (dw0: number): NvmeResult => ({ status: NvmeStatus.SUCCESS, dw0: dw0 >>> 0 });
  switch (fid) {
    case NvmeFeature.ARBITRATION:
      return result(f.arbitration);
    case NvmeFeature.POWER_MANAGEMENT:
      return result(f.powerState);
    case NvmeFeature.TEMPERATURE_THRESHOLD: {
      const tmpsel = (dw11 >>> 16) & 0xf;
      const thsel = (dw11 >>> 20) & 0x3;
      if (thsel > 1)
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `threshold type ${thsel} is reserved`);
      if (tmpsel !== 0) return result(0);
      return result(thsel === 0 ? f.temperatureOver : f.temperatureUnder);
    }
    case NvmeFeature.ERROR_RECOVERY:
      return result(f.errorRecovery);
    case NvmeFeature.VOLATILE_WRITE_CACHE:
      return result(f.writeCacheEnabled ? 1 : 0);
    case NvmeFeature.NUMBER_OF_QUEUES:
      return result(numberOfQueues(ctx));
    case NvmeFeature.INTERRUPT_COALESCING:
      return result(f.interruptCoalescing);
    case NvmeFeature.INTERRUPT_VECTOR_CONF: {
      const iv = dw11 & 0xffff;
      if (iv >= ctx.vectors)
        return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `interrupt vector ${iv} does not exist`);
      // The admin queue's vector is never coalesced.
      const cd = iv === 0 ? 1 : (f.coalescingDisabled[iv] ?? 0);
      return result(iv | (cd << 16));
    }
    case NvmeFeature.WRITE_ATOMICITY:
      return result(f.writeAtomicity);
    case NvmeFeature.ASYNCHRONOUS_EVENT_CONF:
      return result(f.asyncEventConfig);
    case NvmeFeature.TIMESTAMP: {
      const ts = ctx.timestamp();
      const raw = new Uint8Array(8);
      const dv = new DataView(raw.buffer);
      dv.setBigUint64(0, ts.ms & 0xffffffffffffn, true);
      raw[6] = ts.setByHost ? 1 << 1 : 0; // Timestamp Origin 001b: set by the host
      return sendToHost(ctx, req, raw);
    }
    default:
      return failed(ctx, req, NvmeStatus.INVALID_FIELD | DNR, `unsupported feature 0x${fid.toString(16)}`);
  }
}
