/**
 * QEMU's NVMe controller (`-device nvme`, hw/nvme/ctrl.c) as a register-level core: the
 * controller registers of BAR0 (NVMe 1.4 section 3.1), doorbells, the CC.EN / CC.SHN lifecycle,
 * round-robin arbitration over the submission queues, completion posting with phase tags, and
 * interrupts (MSI-X per completion queue, MSI or INTx with INTMS/INTMC, coalescing). Admin and
 * I/O commands live in `admin.ts` and `io.ts`; DMA, interrupts and block backends are handed in.
 *
 * Work never blocks the event loop: commands are fetched in bounded rounds, backend I/O is
 * asynchronous and the number of commands in flight is bounded. A controller reset waits for
 * the I/O in flight before CSTS.RDY drops, and nothing reaches guest memory for a command fetched
 * before the reset.
 */

import { createHostClock } from '../clock';
import { DeviceError } from '../errors';
import type { DeviceClock, DeviceLog, GuestErrorEvent } from '../interfaces';
import { silentDeviceLog } from '../interfaces';
import { type AdminContext, defaultFeatures, executeAdmin, type NvmeFeatures } from './admin';
import {
  NVME_CC_CSS_SHIFT,
  NVME_CC_EN,
  NVME_CC_IOCQES_SHIFT,
  NVME_CC_IOSQES_SHIFT,
  NVME_CC_MPS_SHIFT,
  NVME_CC_SHN_SHIFT,
  NVME_CQES,
  NVME_CSTS_FAILED,
  NVME_CSTS_READY,
  NVME_CSTS_SHST_COMPLETE,
  NVME_CSTS_SHST_MASK,
  NVME_CSTS_SHST_OCCURRING,
  NVME_DB_SIZE,
  NVME_DEFAULT_AERL,
  NVME_DEFAULT_MAX_IOQPAIRS,
  NVME_DEFAULT_MDTS,
  NVME_DEFAULT_MQES,
  NVME_DEFAULT_MSIX_QSIZE,
  NVME_MAX_MSIX_QSIZE,
  NVME_MIN_BAR0_SIZE,
  NVME_PCI_IDS,
  NVME_REG_SIZE,
  NVME_SPEC_VER,
  NVME_SQES,
  NVME_TEMPERATURE,
  NvmeReg,
  PCI_MSIX_ENTRY_SIZE,
} from './constants';
import { NvmeQueueEngine } from './engine';
import type { SmartCounters } from './identify';
import { NVME_MAX_NAMESPACES } from './identify';
import { executeIo, type IoContext } from './io';
import { NvmeNamespace } from './namespace';
import type { NvmeRequest } from './queues';
import type { NvmeDma, NvmeInterrupts, NvmeNamespaceConfig } from './types';

/** Construction options of {@link NvmeController}; names follow QEMU's properties where it has one. */
export interface NvmeControllerOptions {
  dma: NvmeDma;
  interrupts: NvmeInterrupts;
  /** Namespaces, normally one per `drive=`. */
  namespaces: readonly NvmeNamespaceConfig[];
  /** `serial=`: Identify SN and part of the subsystem NQN. */
  serial: string;
  /** `max_ioqpairs`: I/O queue pairs (default 64). */
  maxIoQueuePairs?: number;
  /** `msix_qsize`: MSI-X vectors (default 65, at most 128). */
  msixVectors?: number;
  /** `mdts`: maximum data transfer size as a power of two of the minimum page size (default 7). */
  mdts?: number;
  /** CAP.MQES: largest queue size, 0's based (default 2047). */
  mqes?: number;
  /** `aerl`: outstanding Asynchronous Event Requests, 0's based (default 3). */
  aerl?: number;
  /** Identify FR (default "1.0"). */
  firmwareRevision?: string;
  /** Commands executing at once, over every queue (default 1024). */
  maxInflight?: number;
  /** Commands fetched per round before the controller yields to the event loop (default 256). */
  roundBudget?: number;
  clock?: DeviceClock;
  log?: DeviceLog;
}

/** Where the parts of BAR0 sit, as QEMU's `nvme_mbar_size` lays them out. */
export interface NvmeBarLayout {
  /** Registers and doorbells. */
  readonly registerSize: number;
  readonly msixTableOffset: number;
  readonly msixPbaOffset: number;
  /** Power of two, at least 16 KiB. */
  readonly barSize: number;
}

function alignUp(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

/** BAR0 layout for `maxIoQueuePairs` queue pairs and `vectors` MSI-X vectors (65 and 64: 16 KiB). */
export function nvmeBarLayout(maxIoQueuePairs: number, vectors: number): NvmeBarLayout {
  const registerSize = NVME_REG_SIZE + 2 * (maxIoQueuePairs + 1) * NVME_DB_SIZE;
  const msixTableOffset = alignUp(registerSize, 4096);
  const msixPbaOffset = alignUp(msixTableOffset + vectors * PCI_MSIX_ENTRY_SIZE, 4096);
  const end = msixPbaOffset + alignUp(vectors, 64) / 8;
  let barSize = NVME_MIN_BAR0_SIZE;
  while (barSize < end) barSize *= 2;
  return { registerSize, msixTableOffset, msixPbaOffset, barSize };
}

/** The NVMe controller core behind BAR0. */
export class NvmeController {
  readonly #dma: NvmeDma;
  readonly #irq: NvmeInterrupts;
  readonly #clock: DeviceClock;
  readonly #log: DeviceLog;
  readonly #namespaces = new Map<number, NvmeNamespace>();
  readonly #serial: string;
  readonly #ioQueuePairs: number;
  readonly #vectors: number;
  readonly #mdts: number;
  readonly #mqes: number;
  readonly #aerl: number;
  readonly #firmwareRevision: string;
  readonly #cap: bigint;
  readonly #startNs: number;
  /** BAR0 layout. */
  readonly layout: NvmeBarLayout;

  // Registers (QEMU keeps them in NvmeBar; unused ones read as zero).
  #cc = 0;
  #csts = 0;
  #intms = 0;
  #aqa = 0;
  #asq = 0n;
  #acq = 0n;

  #pageSize = 4096;
  readonly #engine: NvmeQueueEngine;
  #resetting = false;
  #enablePending = false;
  #queuesCreated = false;
  #features: NvmeFeatures;
  #timestamp = { ms: 0n, atNs: 0, setByHost: false };
  readonly #counters: SmartCounters = { bytesRead: 0, bytesWritten: 0, readCommands: 0, writeCommands: 0 };
  readonly #adminContext: AdminContext;
  readonly #ioContext: IoContext;

  constructor(options: NvmeControllerOptions) {
    this.#dma = options.dma;
    this.#irq = options.interrupts;
    this.#clock = options.clock ?? createHostClock();
    this.#log = options.log ?? silentDeviceLog;
    this.#serial = options.serial;
    this.#ioQueuePairs = checkRange(
      'max_ioqpairs',
      options.maxIoQueuePairs ?? NVME_DEFAULT_MAX_IOQPAIRS,
      1,
      0xffff,
    );
    this.#vectors = checkRange(
      'msix_qsize',
      options.msixVectors ?? NVME_DEFAULT_MSIX_QSIZE,
      1,
      NVME_MAX_MSIX_QSIZE,
    );
    this.#mdts = checkRange('mdts', options.mdts ?? NVME_DEFAULT_MDTS, 0, 20);
    this.#mqes = checkRange('mqes', options.mqes ?? NVME_DEFAULT_MQES, 1, 0xffff);
    this.#aerl = checkRange('aerl', options.aerl ?? NVME_DEFAULT_AERL, 0, 255);
    const maxInflight = checkRange('maxInflight', options.maxInflight ?? 1024, 1, 1 << 20);
    const roundBudget = checkRange('roundBudget', options.roundBudget ?? 256, 1, 1 << 20);
    this.#firmwareRevision = options.firmwareRevision ?? '1.0';
    options.namespaces.forEach((config, i) => {
      const ns = new NvmeNamespace(config, config.nsid ?? i + 1, this.#serial);
      if (this.#namespaces.has(ns.nsid) || ns.nsid > NVME_MAX_NAMESPACES) {
        throw new DeviceError(
          'invalid-property',
          `namespace id ${ns.nsid} is duplicated or above ${NVME_MAX_NAMESPACES}`,
          {
            deviceType: 'nvme',
            property: 'nsid',
            value: ns.nsid,
          },
        );
      }
      this.#namespaces.set(ns.nsid, ns);
    });
    // CAP: MQES, CQR, TO 7.5 s, CSS NVM + I/O command sets, MPSMIN 4 KiB, MPSMAX 64 KiB (as QEMU).
    this.#cap = BigInt(this.#mqes) | (1n << 16n) | (0xfn << 24n) | (0x41n << 37n) | (4n << 52n);
    this.#features = defaultFeatures(this.#vectors);
    this.#startNs = this.#clock.now();
    this.layout = nvmeBarLayout(this.#ioQueuePairs, this.#vectors);
    this.#engine = new NvmeQueueEngine({
      dma: this.#dma,
      interrupts: this.#irq,
      clock: this.#clock,
      maxInflight,
      roundBudget,
      features: () => this.#features,
      intms: () => this.#intms,
      accepting: () => (this.#csts & NVME_CSTS_READY) !== 0 && !this.#resetting,
      execute: (request) =>
        request.sq.sqid === 0
          ? executeAdmin(this.#adminContext, request)
          : executeIo(this.#ioContext, request),
      fatal: () => {
        this.#csts |= NVME_CSTS_FAILED;
      },
      guestError: (event) => this.#guestError(event),
    });
    this.#adminContext = this.#makeAdminContext();
    this.#ioContext = this.#makeIoContext();
  }

  /** The namespaces, by id. */
  get namespaces(): ReadonlyMap<number, NvmeNamespace> {
    return this.#namespaces;
  }

  /** Commands executing now. */
  get inflight(): number {
    return this.#engine.inflight;
  }

  /** CSTS.RDY. */
  get ready(): boolean {
    return (this.#csts & NVME_CSTS_READY) !== 0;
  }

  // ---------------------------------------------------------------- MMIO

  /** Reads `size` (1, 2 or 4) bytes of BAR0 at `offset`; doorbells and holes read as zero. */
  read(offset: number, size: number): number {
    if (offset >= NVME_REG_SIZE) {
      this.#guestError({ message: 'read of a doorbell register', offset, size });
      return 0;
    }
    const dword = this.#readRegister(offset & ~3);
    const shift = (offset & 3) * 8;
    const mask = size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    return ((dword >>> shift) & mask) >>> 0;
  }

  /** Reads the 8-byte register at `offset` (CAP, ASQ, ACQ). */
  read64(offset: number): bigint {
    return BigInt(this.read(offset, 4)) | (BigInt(this.read(offset + 4, 4)) << 32n);
  }

  /** Writes `size` bytes at `offset`; registers and doorbells take 4-byte aligned writes only. */
  write(offset: number, value: number, size: number): void {
    if ((offset & 3) !== 0 || size !== 4) {
      this.#guestError({ message: 'register writes must be 4-byte aligned dwords', offset, size, value });
      return;
    }
    if (offset >= NVME_REG_SIZE) {
      this.#engine.doorbellWrite(offset, value >>> 0);
      return;
    }
    this.#registerWrite(offset, value >>> 0);
  }

  /** Writes an 8-byte value as two dwords, low first, as a 64-bit access to ASQ/ACQ does. */
  write64(offset: number, value: bigint): void {
    this.write(offset, Number(value & 0xffffffffn), 4);
    this.write(offset + 4, Number((value >> 32n) & 0xffffffffn), 4);
  }

  #readRegister(offset: number): number {
    switch (offset) {
      case NvmeReg.CAP:
        return Number(this.#cap & 0xffffffffn);
      case NvmeReg.CAP + 4:
        return Number(this.#cap >> 32n);
      case NvmeReg.VS:
        return NVME_SPEC_VER;
      case NvmeReg.INTMS:
      case NvmeReg.INTMC:
        return this.#intms;
      case NvmeReg.CC:
        return this.#cc;
      case NvmeReg.CSTS:
        return this.#csts;
      case NvmeReg.AQA:
        return this.#aqa;
      case NvmeReg.ASQ:
        return Number(this.#asq & 0xffffffffn);
      case NvmeReg.ASQ + 4:
        return Number(this.#asq >> 32n);
      case NvmeReg.ACQ:
        return Number(this.#acq & 0xffffffffn);
      case NvmeReg.ACQ + 4:
        return Number(this.#acq >> 32n);
      default:
        return 0;
    }
  }

  #registerWrite(offset: number, value: number): void {
    switch (offset) {
      case NvmeReg.INTMS:
      case NvmeReg.INTMC:
        if (this.#irq.mode() === 'msix') {
          // Undefined with MSI-X enabled; QEMU logs it and applies it anyway.
          this.#guestError({ message: 'INTMS/INTMC written while MSI-X is enabled', offset, size: 4, value });
        }
        this.#intms = offset === NvmeReg.INTMS ? (this.#intms | value) >>> 0 : (this.#intms & ~value) >>> 0;
        this.#engine.updateIrqLine(offset === NvmeReg.INTMC ? value : 0);
        return;
      case NvmeReg.CC:
        this.#ccWrite(value);
        return;
      case NvmeReg.AQA:
        this.#aqa = value & 0x0fff0fff;
        return;
      case NvmeReg.ASQ:
        this.#asq = (this.#asq & ~0xffffffffn) | BigInt(value & 0xfffff000);
        return;
      case NvmeReg.ASQ + 4:
        this.#asq = (this.#asq & 0xffffffffn) | (BigInt(value) << 32n);
        return;
      case NvmeReg.ACQ:
        this.#acq = (this.#acq & ~0xffffffffn) | BigInt(value & 0xfffff000);
        return;
      case NvmeReg.ACQ + 4:
        this.#acq = (this.#acq & 0xffffffffn) | (BigInt(value) << 32n);
        return;
      case NvmeReg.NSSR:
        this.#guestError({
          message: 'NVM Subsystem Reset is not supported (CAP.NSSRS is 0)',
          register: 'NSSR',
          offset,
          value,
        });
        return;
      default:
        this.#guestError({ message: 'write to a read-only or reserved register', offset, size: 4, value });
    }
  }

  // ---------------------------------------------------------------- lifecycle

  #ccWrite(value: number): void {
    const old = this.#cc;
    this.#cc = value;
    const wasEnabled = (old & NVME_CC_EN) !== 0;
    const enable = (value & NVME_CC_EN) !== 0;
    if (enable && !wasEnabled) {
      if (this.#resetting) this.#enablePending = true;
      else this.#enable();
    } else if (!enable && wasEnabled) {
      this.#enablePending = false;
      this.#controllerReset();
    }
    const shn = (value >>> NVME_CC_SHN_SHIFT) & 3;
    const oldShn = (old >>> NVME_CC_SHN_SHIFT) & 3;
    if (shn !== 0 && oldShn === 0) this.#shutdown();
    else if (shn === 0 && oldShn !== 0) this.#csts &= ~NVME_CSTS_SHST_MASK;
  }

  #enable(): void {
    const cc = this.#cc;
    const mps = (cc >>> NVME_CC_MPS_SHIFT) & 0xf;
    const css = (cc >>> NVME_CC_CSS_SHIFT) & 0x7;
    const asqs = (this.#aqa & 0xfff) + 1;
    const acqs = ((this.#aqa >>> 16) & 0xfff) + 1;
    const pageMask = BigInt((1 << (12 + mps)) - 1);
    const problem =
      mps > 4
        ? `CC.MPS ${mps} above CAP.MPSMAX`
        : css !== 0 && css !== 6 && css !== 7
          ? `CC.CSS ${css} is not supported`
          : ((cc >>> NVME_CC_IOSQES_SHIFT) & 0xf) !== NVME_SQES
            ? `CC.IOSQES ${(cc >>> NVME_CC_IOSQES_SHIFT) & 0xf} is not ${NVME_SQES}`
            : ((cc >>> NVME_CC_IOCQES_SHIFT) & 0xf) !== NVME_CQES
              ? `CC.IOCQES ${(cc >>> NVME_CC_IOCQES_SHIFT) & 0xf} is not ${NVME_CQES}`
              : asqs < 2 || acqs < 2
                ? `admin queue sizes ${asqs}/${acqs} below 2`
                : (this.#asq & pageMask) !== 0n || (this.#acq & pageMask) !== 0n
                  ? 'ASQ or ACQ is not page aligned'
                  : undefined;
    if (problem !== undefined) {
      this.#guestError({ message: `controller enable failed: ${problem}`, register: 'CC', value: cc });
      this.#csts = NVME_CSTS_FAILED;
      return;
    }
    this.#pageSize = 1 << (12 + mps);
    this.#engine.createAdminQueues(asqs, this.#asq, acqs, this.#acq);
    this.#timestamp = { ms: 0n, atNs: this.#clock.now(), setByHost: false };
    this.#csts = NVME_CSTS_READY;
  }

  /** CC.EN 1 to 0: queues deleted, features back to defaults, RDY cleared once I/O drained. */
  #controllerReset(): void {
    const drained = this.#engine.reset();
    this.#queuesCreated = false;
    this.#features = defaultFeatures(this.#vectors);
    const finish = (): void => {
      this.#resetting = false;
      this.#csts &= ~(NVME_CSTS_READY | NVME_CSTS_FAILED);
      if (this.#enablePending) {
        this.#enablePending = false;
        this.#enable();
      }
    };
    if (this.#engine.inflight === 0) {
      finish();
    } else {
      this.#resetting = true;
      void drained.then(finish);
    }
  }

  #shutdown(): void {
    this.#csts = (this.#csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_OCCURRING;
    const generation = this.#engine.generation;
    void this.drain()
      .then(() => Promise.all([...this.#namespaces.values()].map((ns) => ns.backend.flush())))
      .catch((e: unknown) => {
        this.#guestError({ message: `flush at shutdown failed: ${String(e)}`, register: 'CC' });
      })
      .then(() => {
        if (generation === this.#engine.generation && ((this.#cc >>> NVME_CC_SHN_SHIFT) & 3) !== 0) {
          this.#csts = (this.#csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_COMPLETE;
        }
      });
  }

  /**
   * Device reset (PCIe FLR, vfio-user DEVICE_RESET, client gone): a controller reset, then CC,
   * CSTS and INTMS back to zero (AQA, ASQ and ACQ keep their values, as QEMU's). Resolves once no
   * command of before the reset is executing; until then nothing is fetched and RDY stays 0.
   */
  reset(): Promise<void> {
    if ((this.#cc & NVME_CC_EN) !== 0 || this.#engine.sq(0) !== undefined) this.#controllerReset();
    this.#cc = 0;
    this.#enablePending = false;
    // CSTS reads as after power-on at once; an enable waits for the drain (see #ccWrite).
    this.#csts = 0;
    this.#intms = 0;
    return this.drain();
  }

  /** Resolves when no command is executing (after a reset, the commands of before it). */
  drain(): Promise<void> {
    return this.#engine.drain();
  }

  // ---------------------------------------------------------------- contexts for commands

  #guestError(event: Omit<GuestErrorEvent, 'device'>): void {
    this.#log.guestError({ device: 'nvme', ...event });
  }

  #requestError(request: NvmeRequest, message: string): void {
    this.#guestError({
      message: `SQ ${request.sq.sqid} cid ${request.cid} opcode 0x${request.opcode.toString(16)}: ${message}`,
    });
  }

  #nsidValid(nsid: number): boolean {
    return nsid >= 1 && nsid <= NVME_MAX_NAMESPACES;
  }

  #maxTransferBytes(): number {
    return this.#mdts === 0 ? 0 : 4096 * 2 ** this.#mdts;
  }

  #makeIoContext(): IoContext {
    const self = this;
    return {
      get dma() {
        return self.#dma;
      },
      get pageSize() {
        return self.#pageSize;
      },
      get maxTransferBytes() {
        return self.#maxTransferBytes();
      },
      get writeCacheEnabled() {
        return self.#features.writeCacheEnabled;
      },
      counters: this.#counters,
      namespace: (nsid) => this.#namespaces.get(nsid),
      namespaces: () => this.#namespaces.values(),
      nsidValid: (nsid) => this.#nsidValid(nsid),
      isCurrent: (request) => request.generation === this.#engine.generation,
      guestError: (request, message) => this.#requestError(request, message),
    };
  }

  #makeAdminContext(): AdminContext {
    const self = this;
    return {
      get dma() {
        return self.#dma;
      },
      get pageSize() {
        return self.#pageSize;
      },
      get maxTransferBytes() {
        return self.#maxTransferBytes();
      },
      ioQueuePairs: this.#ioQueuePairs,
      vectors: this.#vectors,
      mqes: this.#mqes,
      aerl: this.#aerl,
      identity: {
        serial: this.#serial,
        firmwareRevision: this.#firmwareRevision,
        pciVendorId: NVME_PCI_IDS.vendorId,
        pciSubsystemVendorId: NVME_PCI_IDS.subsystemVendorId,
        cntlid: 0,
        mdts: this.#mdts,
        aerl: this.#aerl,
      },
      get features() {
        return self.#features;
      },
      counters: this.#counters,
      temperature: NVME_TEMPERATURE,
      interruptMode: () => this.#irq.mode(),
      sq: (sqid) => this.#engine.sq(sqid),
      cq: (cqid) => this.#engine.cq(cqid),
      get queuesCreated() {
        return self.#queuesCreated;
      },
      createCq: (cqid, size, base, vector, irqEnabled) => {
        this.#engine.createCq(cqid, size, base, vector, irqEnabled);
        this.#queuesCreated = true;
      },
      createSq: (sqid, cq, size, base) => this.#engine.createSq(sqid, cq, size, base),
      deleteSq: (sq) => this.#engine.deleteSq(sq),
      deleteCq: (cq) => this.#engine.deleteCq(cq),
      namespace: (nsid) => this.#namespaces.get(nsid),
      namespaces: () => this.#namespaces.values(),
      nsidValid: (nsid) => this.#nsidValid(nsid),
      parkAer: (request) => this.#engine.parkAer(request),
      outstandingAers: () => this.#engine.outstandingAers,
      clearEvents: (type) => this.#engine.clearEvents(type),
      enqueueEvent: (type, info, logPage) => this.#engine.enqueueEvent(type, info, logPage),
      errorLogEntries: () => this.#engine.errorLog,
      powerOnHours: () => Math.floor((this.#clock.now() - this.#startNs) / 3.6e12),
      timestamp: () => ({
        ms: this.#timestamp.ms + BigInt(Math.floor((this.#clock.now() - this.#timestamp.atNs) / 1e6)),
        setByHost: this.#timestamp.setByHost,
      }),
      setTimestamp: (ms) => {
        this.#timestamp = { ms, atNs: this.#clock.now(), setByHost: true };
      },
      configureShadowDoorbells: (doorbells, eventIdx) =>
        this.#engine.configureShadowDoorbells(doorbells, eventIdx),
      guestError: (request, message) => this.#requestError(request, message),
    };
  }
}

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new DeviceError(
      'invalid-property',
      `${name} must be an integer in ${min}..${max}, got ${String(value)}`,
      {
        deviceType: 'nvme',
        property: name,
        value,
      },
    );
  }
  return value;
}
