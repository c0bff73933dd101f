/**
 * A user-space NVMe host driver over vfio-user: it takes a connected `VfioUserClient`, assigns
 * and enables the BARs, shares guest memory with the server (DMA_MAP with the memfd, or DMA
 * messages), resets and enables the controller, identifies it and its namespaces, and creates I/O
 * queue pairs with one MSI-X vector each. Commands then run at any queue depth; completions
 * arrive by MSI-X eventfd (or by polling).
 */

import {
  type DmaMapping,
  type GuestMemory,
  PciDeviceHandle,
  VfioPciRegion,
  type VfioUserClient,
} from '@vfu/client';
import {
  AdminOpcode,
  CC_EN,
  CC_QUEUE_ENTRY_SIZES,
  CC_SHN_NORMAL,
  CSTS_CFS,
  CSTS_RDY,
  CSTS_SHST_COMPLETE,
  CSTS_SHST_MASK,
  Feature,
  IoOpcode,
  NVME_DOORBELL_BASE,
  NvmeRegister,
  PAGE_SIZE,
} from './constants';
import { NvmeDriverError } from './errors';
import { type NvmeCompletion, QueuePair } from './queue-pair';

/** Options of {@link NvmeDriver.attach}. */
export interface NvmeDriverOptions {
  /** I/O queue pairs to create (default 1; capped by what the controller grants). */
  ioQueues?: number;
  /** Entries per I/O queue (default 128; capped by CAP.MQES + 1). */
  queueDepth?: number;
  /** Largest transfer of one read or write, in bytes (default 128 KiB; capped by MDTS). */
  maxTransfer?: number;
  /** Bus address where the driver's guest memory is mapped (default 0x1_0000_0000). */
  iova?: bigint;
  /** Share memory through DMA messages instead of the memfd (the server then never maps it). */
  viaMessages?: boolean;
  /** How completions are noticed: MSI-X eventfds (default) or polling the completion queues. */
  completions?: 'msix' | 'poll';
  /** Per-command timeout in milliseconds (default 30000; 0: none). */
  commandTimeoutMs?: number;
}

/** What Identify Controller said. */
export interface NvmeControllerInfo {
  readonly vendorId: number;
  readonly subsystemVendorId: number;
  readonly serial: string;
  readonly model: string;
  readonly firmware: string;
  /** Maximum data transfer size in bytes (0: no limit). */
  readonly maxTransfer: number;
  /** NVMe version, e.g. `1.4.0`. */
  readonly version: string;
  /** Number of namespaces (NN). */
  readonly namespaceCount: number;
  readonly subsystemNqn: string;
  /** A volatile write cache is present (Flush matters). */
  readonly volatileWriteCache: boolean;
  /** CAP register. */
  readonly cap: bigint;
}

/** An active namespace. */
export interface NvmeNamespaceInfo {
  readonly nsid: number;
  /** Size in logical blocks. */
  readonly blocks: number;
  readonly blockSize: number;
}

/** Options of one I/O command. */
export interface NvmeIoOptions {
  /** Namespace (default 1). */
  nsid?: number;
  /** I/O queue pair, 1-based (default: round robin over the queues). */
  queue?: number;
  /** Force Unit Access (writes). */
  fua?: boolean;
}

interface Slot {
  /** Offset of the data buffer in guest memory. */
  readonly offset: number;
  /** Offset of the PRP list page. */
  readonly prpList: number;
}

const ADMIN_QUEUE_SIZE = 32;

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/** A controller brought up by this process. */
export class NvmeDriver {
  readonly client: VfioUserClient;
  readonly pci: PciDeviceHandle;
  readonly memory: GuestMemory;
  readonly #iova: bigint;
  readonly #options: Required<Omit<NvmeDriverOptions, 'iova' | 'viaMessages'>>;
  #mapping: DmaMapping | undefined;
  #admin!: QueuePair;
  #io: QueuePair[] = [];
  #next = 0;
  #slots: Slot[] = [];
  #slotWaiters: (() => void)[] = [];
  #doorbellStride = 4;
  #info!: NvmeControllerInfo;
  #namespaces: NvmeNamespaceInfo[] = [];
  #layout: { admin: number; queues: number; identify: number; slots: number; slotSize: number } = {
    admin: 0,
    queues: 0,
    identify: 0,
    slots: 0,
    slotSize: 0,
  };
  #poll: NodeJS.Timeout | undefined;
  readonly #onDisconnect = (): void => this.#abortAll('the vfio-user connection closed');
  readonly #onMsix = (vector: number): void => {
    if (vector === 0) this.#admin.reap();
    else this.#io[vector - 1]?.reap();
  };

  private constructor(client: VfioUserClient, memory: GuestMemory, options: NvmeDriverOptions) {
    this.client = client;
    this.pci = new PciDeviceHandle(client);
    this.memory = memory;
    this.#iova = options.iova ?? 0x1_0000_0000n;
    this.#options = {
      ioQueues: options.ioQueues ?? 1,
      queueDepth: options.queueDepth ?? 128,
      maxTransfer: options.maxTransfer ?? 128 * 1024,
      completions: options.completions ?? 'msix',
      commandTimeoutMs: options.commandTimeoutMs ?? 30_000,
    };
  }

  /**
   * Brings the controller up: BARs, bus mastering, MSI-X (one vector per queue), guest memory,
   * controller reset and enable, Identify, Number of Queues, I/O queue pairs.
   */
  static async attach(client: VfioUserClient, options: NvmeDriverOptions = {}): Promise<NvmeDriver> {
    const ioQueues = options.ioQueues ?? 1;
    const depth = options.queueDepth ?? 128;
    const maxTransfer = options.maxTransfer ?? 128 * 1024;
    if (!Number.isInteger(ioQueues) || ioQueues < 1 || ioQueues > 64) {
      throw new NvmeDriverError('invalid-argument', `ioQueues must be 1..64, got ${ioQueues}`);
    }
    if (!Number.isInteger(depth) || depth < 2 || depth > 4096) {
      throw new NvmeDriverError('invalid-argument', `queueDepth must be 2..4096, got ${depth}`);
    }
    if (!Number.isInteger(maxTransfer) || maxTransfer < PAGE_SIZE || maxTransfer % PAGE_SIZE !== 0) {
      throw new NvmeDriverError('invalid-argument', `maxTransfer must be a multiple of ${PAGE_SIZE}`);
    }
    const queueBytes = align(depth * 64, PAGE_SIZE) + align(depth * 16, PAGE_SIZE);
    const slots = ioQueues * (depth - 1);
    const slotSize = maxTransfer + PAGE_SIZE; // data and its PRP list page
    const admin = 2 * PAGE_SIZE;
    const identify = PAGE_SIZE;
    const size = align(admin + ioQueues * queueBytes + identify + slots * slotSize, 2 << 20);
    const memory = client.allocateMemory(size);
    const driver = new NvmeDriver(client, memory, options);
    driver.#layout = { admin: 0, queues: admin, identify: admin + ioQueues * queueBytes, slots, slotSize };
    try {
      await driver.#bringUp(options.viaMessages ?? false);
    } catch (e) {
      await driver.#teardown();
      throw e;
    }
    return driver;
  }

  /** Identify Controller data. */
  get controller(): NvmeControllerInfo {
    return this.#info;
  }

  /** Active namespaces. */
  get namespaces(): readonly NvmeNamespaceInfo[] {
    return this.#namespaces;
  }

  /** I/O queue pairs in use. */
  get ioQueues(): number {
    return this.#io.length;
  }

  /** Largest read or write of one command, in bytes. */
  get maxTransfer(): number {
    return this.#options.maxTransfer;
  }

  async #bringUp(viaMessages: boolean): Promise<void> {
    const config = await this.pci.readConfig();
    const classCode = (config[0x0b]! << 16) | (config[0x0a]! << 8) | config[0x09]!;
    if (classCode !== 0x010802) {
      throw new NvmeDriverError(
        'unsupported',
        `class code 0x${classCode.toString(16)} is not an NVMe controller (010802)`,
      );
    }
    await this.pci.assignBars();
    await this.pci.enable();
    this.client.on('disconnect', this.#onDisconnect);
    this.#mapping = await this.client.mapDma(
      this.memory,
      this.#iova,
      viaMessages ? { viaMessages: true } : {},
    );
    if (this.#options.completions === 'msix') {
      await this.pci.setupMsix(this.#options.ioQueues + 1);
      this.client.on('msix', this.#onMsix);
    } else {
      this.#poll = setInterval(() => this.poll(), 1);
    }
    await this.#enableController();
  }

  async #enableController(): Promise<void> {
    const cap = await this.client.read64(VfioPciRegion.Bar0, NvmeRegister.CAP);
    const mqes = Number(cap & 0xffffn) + 1;
    const timeoutMs = Number((cap >> 24n) & 0xffn) * 500 || 500;
    this.#doorbellStride = 4 << Number((cap >> 32n) & 0xfn);
    await this.#disable(timeoutMs);
    this.#admin = new QueuePair({
      qid: 0,
      size: ADMIN_QUEUE_SIZE,
      sq: this.memory.view(this.#layout.admin, ADMIN_QUEUE_SIZE * 64),
      cq: this.memory.view(this.#layout.admin + PAGE_SIZE, ADMIN_QUEUE_SIZE * 16),
      ring: (qid, isCq, value) => this.#ring(qid, isCq, value),
      timeoutMs: this.#options.commandTimeoutMs,
    });
    await this.#writeReg(NvmeRegister.AQA, ((ADMIN_QUEUE_SIZE - 1) << 16) | (ADMIN_QUEUE_SIZE - 1));
    await this.client.write64(VfioPciRegion.Bar0, NvmeRegister.ASQ, this.#iova + BigInt(this.#layout.admin));
    await this.client.write64(
      VfioPciRegion.Bar0,
      NvmeRegister.ACQ,
      this.#iova + BigInt(this.#layout.admin + PAGE_SIZE),
    );
    await this.#writeReg(NvmeRegister.CC, CC_QUEUE_ENTRY_SIZES | CC_EN);
    await this.#waitStatus((csts) => (csts & CSTS_RDY) !== 0, timeoutMs, 'CSTS.RDY to be set');

    const id = await this.#identify(1, 0);
    const text = (o: number, n: number): string =>
      new TextDecoder().decode(id.subarray(o, o + n)).replace(/[\0 ]+$/, '');
    const dv = new DataView(id.buffer, id.byteOffset, id.byteLength);
    const mdts = id[77]!;
    const vs = dv.getUint32(80, true);
    this.#info = {
      vendorId: dv.getUint16(0, true),
      subsystemVendorId: dv.getUint16(2, true),
      serial: text(4, 20),
      model: text(24, 40),
      firmware: text(64, 8),
      maxTransfer: mdts === 0 ? 0 : PAGE_SIZE * 2 ** mdts,
      version: `${vs >>> 16}.${(vs >>> 8) & 0xff}.${vs & 0xff}`,
      namespaceCount: dv.getUint32(516, true),
      subsystemNqn: text(768, 256),
      volatileWriteCache: (id[525]! & 1) !== 0,
      cap,
    };
    if (this.#info.maxTransfer > 0 && this.#options.maxTransfer > this.#info.maxTransfer) {
      this.#options.maxTransfer = this.#info.maxTransfer;
    }
    const list = new DataView((await this.#identify(2, 0)).buffer);
    this.#namespaces = [];
    for (let i = 0; i < 1024; i++) {
      const nsid = list.getUint32(i * 4, true);
      if (nsid === 0) break;
      const ns = await this.#identify(0, nsid);
      const nsv = new DataView(ns.buffer, ns.byteOffset, ns.byteLength);
      const lbaf = ns[26]! & 0xf;
      this.#namespaces.push({
        nsid,
        blocks: Number(nsv.getBigUint64(0, true)),
        blockSize: 2 ** ns[128 + lbaf * 4 + 2]!,
      });
    }

    const wanted = this.#options.ioQueues;
    const granted = await this.#admin.submit(AdminOpcode.SET_FEATURES, (e) => {
      e.setUint32(40, Feature.NUMBER_OF_QUEUES, true);
      e.setUint32(44, ((wanted - 1) << 16) | (wanted - 1), true);
    });
    const queues = Math.min(wanted, (granted.dw0 & 0xffff) + 1, (granted.dw0 >>> 16) + 1);
    const depth = Math.min(this.#options.queueDepth, mqes);
    const queueBytes =
      align(this.#options.queueDepth * 64, PAGE_SIZE) + align(this.#options.queueDepth * 16, PAGE_SIZE);
    this.#io = [];
    for (let q = 1; q <= queues; q++) {
      const base = this.#layout.queues + (q - 1) * queueBytes;
      const cqOffset = base + align(this.#options.queueDepth * 64, PAGE_SIZE);
      await this.#admin.submit(AdminOpcode.CREATE_CQ, (e) => {
        e.setBigUint64(24, this.#iova + BigInt(cqOffset), true);
        e.setUint32(40, ((depth - 1) << 16) | q, true);
        e.setUint32(
          44,
          ((this.#options.completions === 'msix' ? q : 0) << 16) |
            (this.#options.completions === 'msix' ? 3 : 1),
          true,
        );
      });
      await this.#admin.submit(AdminOpcode.CREATE_SQ, (e) => {
        e.setBigUint64(24, this.#iova + BigInt(base), true);
        e.setUint32(40, ((depth - 1) << 16) | q, true);
        e.setUint32(44, (q << 16) | 1, true);
      });
      this.#io.push(
        new QueuePair({
          qid: q,
          size: depth,
          sq: this.memory.view(base, depth * 64),
          cq: this.memory.view(cqOffset, depth * 16),
          ring: (qid, isCq, value) => this.#ring(qid, isCq, value),
          timeoutMs: this.#options.commandTimeoutMs,
        }),
      );
    }
    const slotBase = this.#layout.identify + PAGE_SIZE;
    this.#slots = [];
    for (let i = 0; i < this.#layout.slots; i++) {
      const offset = slotBase + i * this.#layout.slotSize;
      this.#slots.push({ offset, prpList: offset + this.#layout.slotSize - PAGE_SIZE });
    }
  }

  async #identify(cns: number, nsid: number): Promise<Uint8Array> {
    const at = this.#layout.identify;
    await this.#admin.submit(AdminOpcode.IDENTIFY, (e) => {
      e.setUint32(4, nsid, true);
      e.setBigUint64(24, this.#iova + BigInt(at), true);
      e.setUint32(40, cns, true);
    });
    return this.memory.read(at, PAGE_SIZE);
  }

  #ring(qid: number, isCq: boolean, value: number): void {
    const offset = NVME_DOORBELL_BASE + (2 * qid + (isCq ? 1 : 0)) * this.#doorbellStride;
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value, true);
    // Posted: doorbells need no reply, and the server keeps the order of messages.
    this.client.regionWrite(VfioPciRegion.Bar0, offset, b, { posted: true }).catch(() => undefined);
  }

  #writeReg(offset: number, value: number): Promise<void> {
    return this.client.write32(VfioPciRegion.Bar0, offset, value);
  }

  async #waitStatus(done: (csts: number) => boolean, timeoutMs: number, what: string): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const csts = await this.client.read32(VfioPciRegion.Bar0, NvmeRegister.CSTS);
      if (done(csts)) return csts;
      if ((csts & CSTS_CFS) !== 0 && (csts & CSTS_RDY) !== 0) {
        throw new NvmeDriverError('controller-fatal', `controller fatal status while waiting for ${what}`);
      }
      if (Date.now() > deadline)
        throw new NvmeDriverError('timeout', `timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  async #disable(timeoutMs: number): Promise<void> {
    const cc = await this.client.read32(VfioPciRegion.Bar0, NvmeRegister.CC);
    if ((cc & CC_EN) !== 0) await this.#writeReg(NvmeRegister.CC, cc & ~CC_EN);
    await this.#waitStatus((csts) => (csts & CSTS_RDY) === 0, timeoutMs, 'CSTS.RDY to clear');
  }

  /** Reaps every completion queue (what an interrupt does; the `poll` mode calls it). */
  poll(): void {
    this.#admin?.reap();
    for (const q of this.#io) q.reap();
  }

  /** Runs an admin command; `fill` writes the entry after the command identifier. */
  adminCommand(opcode: number, fill: (entry: DataView) => void = () => {}): Promise<NvmeCompletion> {
    return this.#admin.submit(opcode, fill);
  }

  async #withSlot<T>(run: (slot: Slot) => Promise<T>): Promise<T> {
    while (this.#slots.length === 0) await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    const slot = this.#slots.pop()!;
    try {
      return await run(slot);
    } finally {
      this.#slots.push(slot);
      this.#slotWaiters.shift()?.();
    }
  }

  #queue(options: NvmeIoOptions): QueuePair {
    if (options.queue !== undefined) {
      const q = this.#io[options.queue - 1];
      if (q === undefined) throw new NvmeDriverError('invalid-argument', `no I/O queue ${options.queue}`);
      return q;
    }
    const q = this.#io[this.#next % this.#io.length]!;
    this.#next++;
    return q;
  }

  #namespace(nsid: number): NvmeNamespaceInfo {
    const ns = this.#namespaces.find((n) => n.nsid === nsid);
    if (ns === undefined) throw new NvmeDriverError('invalid-argument', `namespace ${nsid} is not active`);
    return ns;
  }

  /** Fills PRP1/PRP2 for `length` bytes of `slot`'s buffer (a PRP list when over two pages). */
  #prps(entry: DataView, slot: Slot, length: number): void {
    const data = this.#iova + BigInt(slot.offset);
    entry.setBigUint64(24, data, true);
    const pages = Math.ceil(length / PAGE_SIZE);
    if (pages === 2) entry.setBigUint64(32, data + BigInt(PAGE_SIZE), true);
    else if (pages > 2) {
      const list = this.memory.view(slot.prpList, PAGE_SIZE);
      const dv = new DataView(list.buffer, list.byteOffset, PAGE_SIZE);
      for (let i = 1; i < pages; i++) dv.setBigUint64((i - 1) * 8, data + BigInt(i * PAGE_SIZE), true);
      entry.setBigUint64(32, this.#iova + BigInt(slot.prpList), true);
    }
  }

  #check(ns: NvmeNamespaceInfo, lba: number, blocks: number): number {
    const length = blocks * ns.blockSize;
    if (
      !Number.isInteger(lba) ||
      !Number.isInteger(blocks) ||
      lba < 0 ||
      blocks < 1 ||
      lba + blocks > ns.blocks
    ) {
      throw new NvmeDriverError(
        'invalid-argument',
        `LBA range ${lba}+${blocks} is outside namespace ${ns.nsid} (${ns.blocks} blocks)`,
      );
    }
    if (blocks > 0x10000 || length > this.#options.maxTransfer) {
      throw new NvmeDriverError(
        'invalid-argument',
        `${length} bytes exceed the largest transfer (${this.#options.maxTransfer})`,
      );
    }
    return length;
  }

  /** Reads `blocks` logical blocks at `lba`. */
  read(lba: number, blocks: number, options: NvmeIoOptions = {}): Promise<Uint8Array> {
    const ns = this.#namespace(options.nsid ?? 1);
    const length = this.#check(ns, lba, blocks);
    return this.#withSlot(async (slot) => {
      await this.#queue(options).submit(IoOpcode.READ, (e) => {
        e.setUint32(4, ns.nsid, true);
        this.#prps(e, slot, length);
        e.setBigUint64(40, BigInt(lba), true);
        e.setUint32(48, blocks - 1, true);
      });
      return this.memory.read(slot.offset, length);
    });
  }

  /** Writes `data` (whole logical blocks) at `lba`. */
  write(lba: number, data: Uint8Array, options: NvmeIoOptions = {}): Promise<void> {
    const ns = this.#namespace(options.nsid ?? 1);
    if (data.length % ns.blockSize !== 0) {
      throw new NvmeDriverError(
        'invalid-argument',
        `${data.length} bytes are not whole ${ns.blockSize}-byte blocks`,
      );
    }
    const blocks = data.length / ns.blockSize;
    const length = this.#check(ns, lba, blocks);
    return this.#withSlot(async (slot) => {
      this.memory.write(slot.offset, data);
      await this.#queue(options).submit(IoOpcode.WRITE, (e) => {
        e.setUint32(4, ns.nsid, true);
        this.#prps(e, slot, length);
        e.setBigUint64(40, BigInt(lba), true);
        e.setUint32(48, ((blocks - 1) | (options.fua === true ? 1 << 30 : 0)) >>> 0, true);
      });
    });
  }

  /** Flush: makes completed writes durable. */
  async flush(options: NvmeIoOptions = {}): Promise<void> {
    const nsid = options.nsid ?? 1;
    await this.#queue(options).submit(IoOpcode.FLUSH, (e) => e.setUint32(4, nsid, true));
  }

  /** Write Zeroes of `blocks` blocks at `lba` (`deallocate`: the controller may unmap them). */
  async writeZeroes(
    lba: number,
    blocks: number,
    options: NvmeIoOptions & { deallocate?: boolean } = {},
  ): Promise<void> {
    const ns = this.#namespace(options.nsid ?? 1);
    if (lba < 0 || blocks < 1 || blocks > 0x10000 || lba + blocks > ns.blocks) {
      throw new NvmeDriverError(
        'invalid-argument',
        `LBA range ${lba}+${blocks} is outside namespace ${ns.nsid}`,
      );
    }
    await this.#queue(options).submit(IoOpcode.WRITE_ZEROES, (e) => {
      e.setUint32(4, ns.nsid, true);
      e.setBigUint64(40, BigInt(lba), true);
      e.setUint32(
        48,
        ((blocks - 1) |
          (options.deallocate === true ? 1 << 25 : 0) |
          (options.fua === true ? 1 << 30 : 0)) >>>
          0,
        true,
      );
    });
  }

  /** Dataset Management with Deallocate for one range. */
  async deallocate(lba: number, blocks: number, options: NvmeIoOptions = {}): Promise<void> {
    const ns = this.#namespace(options.nsid ?? 1);
    if (lba < 0 || blocks < 1 || lba + blocks > ns.blocks || blocks > 0xffffffff) {
      throw new NvmeDriverError(
        'invalid-argument',
        `LBA range ${lba}+${blocks} is outside namespace ${ns.nsid}`,
      );
    }
    await this.#withSlot(async (slot) => {
      const range = this.memory.view(slot.offset, 16);
      const dv = new DataView(range.buffer, range.byteOffset, 16);
      dv.setUint32(0, 0, true);
      dv.setUint32(4, blocks, true);
      dv.setBigUint64(8, BigInt(lba), true);
      await this.#queue(options).submit(IoOpcode.DATASET_MANAGEMENT, (e) => {
        e.setUint32(4, ns.nsid, true);
        e.setBigUint64(24, this.#iova + BigInt(slot.offset), true);
        e.setUint32(40, 0, true);
        e.setUint32(44, 1 << 2, true);
      });
    });
  }

  /**
   * Controller reset (CC.EN 1 to 0 to 1): outstanding commands fail with `aborted`, then the
   * admin and I/O queues are set up again.
   */
  async resetController(): Promise<void> {
    this.#abortAll('the controller was reset');
    await this.#enableController();
  }

  /** Normal shutdown (CC.SHN): waits for CSTS.SHST complete; the controller then stays idle. */
  async shutdown(timeoutMs = 10_000): Promise<void> {
    const cc = await this.client.read32(VfioPciRegion.Bar0, NvmeRegister.CC);
    await this.#writeReg(NvmeRegister.CC, (cc & ~(3 << 14)) | CC_SHN_NORMAL);
    await this.#waitStatus(
      (csts) => (csts & CSTS_SHST_MASK) === CSTS_SHST_COMPLETE,
      timeoutMs,
      'shutdown to complete',
    );
  }

  #abortAll(reason: string): void {
    this.#admin?.abortAll(reason);
    for (const q of this.#io) q.abortAll(reason);
  }

  /** Disables the controller, unmaps and frees guest memory; the client stays connected. */
  async close(): Promise<void> {
    this.#abortAll('the driver was closed');
    if (this.memory.closed) return;
    if (!this.client.closed) {
      await this.#writeReg(NvmeRegister.CC, 0).catch(() => undefined);
    }
    await this.#teardown();
  }

  async #teardown(): Promise<void> {
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.client.off('msix', this.#onMsix);
    this.client.off('disconnect', this.#onDisconnect);
    if (this.#mapping !== undefined && !this.client.closed)
      await this.client.unmapDma(this.#mapping).catch(() => undefined);
    this.#mapping = undefined;
    this.memory.close();
  }
}
