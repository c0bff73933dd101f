/**
 * Data structures the controller returns to the host: Identify data (NVMe 1.4 section 5.15) and
 * log pages (section 5.14.1), with the values QEMU's controller reports.
 */

import {
  NVME_CQES,
  NVME_CSI_NVM,
  NVME_IEEE_OUI,
  NVME_MODEL_NUMBER,
  NVME_SPEC_VER,
  NVME_SQES,
  NVME_TEMPERATURE_CRITICAL,
  NVME_TEMPERATURE_WARNING,
  NvmeAdminOpcode,
  NvmeIoOpcode,
} from './constants';

/** Size of every Identify data structure. */
export const NVME_IDENTIFY_DATA_SIZE = 4096;
/** Namespaces the controller can hold (Identify NN), as QEMU's NVME_MAX_NAMESPACES. */
export const NVME_MAX_NAMESPACES = 256;
/** Entries kept in the Error Information log. */
export const NVME_ERROR_LOG_ENTRIES = 64;

/** What Identify Controller needs to know about this controller. */
export interface ControllerIdentity {
  readonly serial: string;
  readonly firmwareRevision: string;
  readonly pciVendorId: number;
  readonly pciSubsystemVendorId: number;
  readonly cntlid: number;
  readonly mdts: number;
  readonly aerl: number;
}

/** One namespace as Identify sees it. */
export interface NamespaceIdentity {
  readonly nsid: number;
  readonly blocks: number;
  readonly logicalBlockSize: number;
  readonly uuid: Uint8Array;
}

function putAscii(out: Uint8Array, offset: number, length: number, text: string): void {
  // Identify strings are ASCII padded with spaces (NVMe 1.4 section 1.5).
  for (let i = 0; i < length; i++) out[offset + i] = i < text.length ? text.charCodeAt(i) & 0x7f : 0x20;
}

/** Identify Controller (CNS 01h). */
export function identifyController(id: ControllerIdentity): Uint8Array {
  const out = new Uint8Array(NVME_IDENTIFY_DATA_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, id.pciVendorId, true);
  dv.setUint16(2, id.pciSubsystemVendorId, true);
  putAscii(out, 4, 20, id.serial);
  putAscii(out, 24, 40, NVME_MODEL_NUMBER);
  putAscii(out, 64, 8, id.firmwareRevision);
  out[72] = 6; // RAB: recommended arbitration burst
  out[73] = NVME_IEEE_OUI & 0xff;
  out[74] = (NVME_IEEE_OUI >> 8) & 0xff;
  out[75] = (NVME_IEEE_OUI >> 16) & 0xff;
  out[77] = id.mdts;
  dv.setUint16(78, id.cntlid, true);
  dv.setUint32(80, NVME_SPEC_VER, true);
  dv.setUint32(92, 1 << 8, true); // OAES: namespace attribute notices
  out[111] = 1; // CNTRLTYPE: I/O controller
  dv.setUint16(256, 1 << 8, true); // OACS: Doorbell Buffer Config
  out[258] = 3; // ACL: four Abort commands
  out[259] = id.aerl;
  out[260] = (1 << 1) | 1; // FRMW: one slot, slot 1 read-only
  out[261] = 0x7; // LPA: per-namespace SMART, Commands Supported and Effects, extended data
  out[262] = NVME_ERROR_LOG_ENTRIES - 1; // ELPE
  dv.setUint16(266, NVME_TEMPERATURE_WARNING, true);
  dv.setUint16(268, NVME_TEMPERATURE_CRITICAL, true);
  out[512] = (NVME_SQES << 4) | NVME_SQES;
  out[513] = (NVME_CQES << 4) | NVME_CQES;
  dv.setUint32(516, NVME_MAX_NAMESPACES, true);
  // ONCS: Compare, Dataset Management, Write Zeroes, Save/Select in features, Timestamp.
  dv.setUint16(520, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 6), true);
  out[525] = 0x7; // VWC: present, Flush with NSID FFFFFFFFh supported
  dv.setUint32(536, 0x1 | (1 << 16), true); // SGLS: supported without alignment, bit bucket
  putAscii(out, 768, 256, `nqn.2019-08.org.qemu:${id.serial}`);
  for (let i = 768 + `nqn.2019-08.org.qemu:${id.serial}`.length; i < 1024; i++) out[i] = 0;
  // Power state 0: 25 W, entry latency 16 us, exit latency 4 us (QEMU's values).
  dv.setUint16(2048, 0x9c4, true);
  dv.setUint32(2052, 0x10, true);
  dv.setUint32(2056, 0x4, true);
  return out;
}

/** I/O command set specific Identify Controller for the NVM command set (CNS 06h, CSI 0). */
export function identifyControllerNvm(logicalBlockSize: number): Uint8Array {
  const out = new Uint8Array(NVME_IDENTIFY_DATA_SIZE);
  const dv = new DataView(out.buffer);
  // DMRSL: the largest single deallocate range, QEMU's BDRV_REQUEST_MAX_BYTES in blocks.
  dv.setUint32(4, Math.floor((0x7fffffff & ~511) / logicalBlockSize), true);
  return out;
}

/** Identify Namespace (CNS 00h) for the NVM command set. */
export function identifyNamespace(ns: NamespaceIdentity): Uint8Array {
  const out = new Uint8Array(NVME_IDENTIFY_DATA_SIZE);
  const dv = new DataView(out.buffer);
  const blocks = BigInt(ns.blocks);
  dv.setBigUint64(0, blocks, true); // NSZE
  dv.setBigUint64(8, blocks, true); // NCAP
  dv.setBigUint64(16, blocks, true); // NUSE
  out[25] = 1; // NLBAF: two formats (0's based)
  out[26] = ns.logicalBlockSize === 4096 ? 1 : 0; // FLBAS
  out[33] = 0x1 | 0x8; // DLFEAT: deallocated blocks read as zeroes; Write Zeroes may deallocate
  out[128 + 2] = 9; // LBAF0: 512-byte blocks
  out[132 + 2] = 12; // LBAF1: 4096-byte blocks
  return out;
}

/** Active Namespace ID list (CNS 02h): ids greater than `after`, ascending. */
export function namespaceIdList(nsids: readonly number[], after: number): Uint8Array {
  const out = new Uint8Array(NVME_IDENTIFY_DATA_SIZE);
  const dv = new DataView(out.buffer);
  let i = 0;
  for (const nsid of [...nsids].sort((a, b) => a - b)) {
    if (nsid <= after) continue;
    if (i === NVME_IDENTIFY_DATA_SIZE / 4) break;
    dv.setUint32(i * 4, nsid, true);
    i++;
  }
  return out;
}

/** Namespace Identification Descriptor list (CNS 03h): the UUID and the command set. */
export function namespaceDescriptors(ns: NamespaceIdentity): Uint8Array {
  const out = new Uint8Array(NVME_IDENTIFY_DATA_SIZE);
  out[0] = 0x3; // NIDT: UUID
  out[1] = 16;
  out.set(ns.uuid.subarray(0, 16), 4);
  out[20] = 0x4; // NIDT: command set identifier
  out[21] = 1;
  out[24] = NVME_CSI_NVM;
  return out;
}

/** Counters behind the SMART / Health Information log. */
export interface SmartCounters {
  /** Bytes read and written by host commands. */
  bytesRead: number;
  bytesWritten: number;
  /** Host read and write commands completed. */
  readCommands: number;
  writeCommands: number;
}

/** SMART / Health Information (log 02h). */
export function smartLog(
  counters: SmartCounters,
  temperature: number,
  thresholds: { over: number; under: number },
  powerOnHours: number,
  errorCount: number,
): Uint8Array {
  const out = new Uint8Array(512);
  const dv = new DataView(out.buffer);
  if (temperature >= thresholds.over || temperature <= thresholds.under) out[0] = 1 << 1;
  dv.setUint16(1, temperature, true);
  out[3] = 100; // available spare
  out[4] = 10; // available spare threshold
  // Data units are thousands of 512-byte units, rounded up (NVMe 1.4 figure 194).
  const units = (bytes: number): bigint => BigInt(Math.ceil(bytes / 512 / 1000));
  dv.setBigUint64(32, units(counters.bytesRead), true);
  dv.setBigUint64(48, units(counters.bytesWritten), true);
  dv.setBigUint64(64, BigInt(counters.readCommands), true);
  dv.setBigUint64(80, BigInt(counters.writeCommands), true);
  dv.setBigUint64(112, 1n, true); // power cycles
  dv.setBigUint64(128, BigInt(powerOnHours), true);
  dv.setBigUint64(176, BigInt(errorCount), true);
  return out;
}

/** Firmware Slot Information (log 03h): slot 1 active, holding `revision`. */
export function firmwareSlotLog(revision: string): Uint8Array {
  const out = new Uint8Array(512);
  out[0] = 0x1;
  putAscii(out, 8, 8, revision);
  return out;
}

/** Commands Supported and Effects (log 05h). */
export function commandEffectsLog(): Uint8Array {
  const out = new Uint8Array(4096);
  const dv = new DataView(out.buffer);
  const CSUPP = 1 << 0;
  const LBCC = 1 << 1;
  for (const op of Object.values(NvmeAdminOpcode)) dv.setUint32(op * 4, CSUPP, true);
  dv.setUint32(NvmeAdminOpcode.SET_FEATURES * 4, CSUPP | (1 << 2) | (1 << 3), true); // NCC, NIC
  dv.setUint32(1024 + NvmeIoOpcode.FLUSH * 4, CSUPP, true);
  dv.setUint32(1024 + NvmeIoOpcode.READ * 4, CSUPP, true);
  dv.setUint32(1024 + NvmeIoOpcode.COMPARE * 4, CSUPP, true);
  dv.setUint32(1024 + NvmeIoOpcode.WRITE * 4, CSUPP | LBCC, true);
  dv.setUint32(1024 + NvmeIoOpcode.WRITE_ZEROES * 4, CSUPP | LBCC, true);
  dv.setUint32(1024 + NvmeIoOpcode.DSM * 4, CSUPP | LBCC, true);
  return out;
}

/** One Error Information log entry (NVMe 1.4 figure 193). */
export interface ErrorLogEntry {
  readonly errorCount: number;
  readonly sqid: number;
  readonly cid: number;
  readonly status: number;
  readonly lba: number;
  readonly nsid: number;
}

/** Error Information (log 01h): newest entry first, `entries` of 64 bytes. */
export function errorLog(entries: readonly ErrorLogEntry[]): Uint8Array {
  const out = new Uint8Array(NVME_ERROR_LOG_ENTRIES * 64);
  const dv = new DataView(out.buffer);
  entries
    .slice(-NVME_ERROR_LOG_ENTRIES)
    .reverse()
    .forEach((e, i) => {
      const o = i * 64;
      dv.setBigUint64(o, BigInt(e.errorCount), true);
      dv.setUint16(o + 8, e.sqid, true);
      dv.setUint16(o + 10, e.cid, true);
      dv.setUint16(o + 12, (e.status << 1) & 0xfffe, true);
      dv.setUint16(o + 14, 0xffff, true); // parameter error location: not specified
      dv.setBigUint64(o + 16, BigInt(e.lba), true);
      dv.setUint32(o + 24, e.nsid, true);
    });
  return out;
}
