/**
 * A small host for unit tests of the NVMe controller core: guest memory with both DMA paths
 * (mapped views, or asynchronous messages only), an in-memory block backend that can be told to
 * fail, an interrupt recorder, and a host driver that builds commands, rings doorbells and reaps
 * completions.
 */

import type { DmaResult } from '../src/interfaces';
import {
  NvmeAdminOpcode,
  type NvmeBlockBackend,
  NvmeController,
  type NvmeControllerOptions,
  type NvmeDma,
  type NvmeInterruptMode,
  type NvmeInterrupts,
  NvmeReg,
} from '../src/nvme';
import { RecordingLog } from './helpers';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Guest RAM at `base`; `mode` picks the DMA path the controller sees. */
export class GuestMemory {
  readonly bytes: Uint8Array;
  mode: 'mmap' | 'message' = 'mmap';
  #next: number;
  constructor(
    readonly base = 0x4000_0000n,
    size = 16 << 20,
  ) {
    this.bytes = new Uint8Array(size);
    this.#next = 0;
  }

  /** Allocates `size` bytes aligned to `align`; returns the bus address. */
  alloc(size: number, align = 4096): bigint {
    this.#next = Math.ceil(this.#next / align) * align;
    const at = this.#next;
    this.#next += size;
    if (this.#next > this.bytes.length) throw new Error('guest memory exhausted');
    return this.base + BigInt(at);
  }

  #offset(address: bigint, length: number): number | undefined {
    const off = address - this.base;
    if (off < 0n || off + BigInt(length) > BigInt(this.bytes.length)) return undefined;
    return Number(off);
  }

  view(address: bigint, length: number): Uint8Array {
    const off = this.#offset(address, length);
    if (off === undefined) throw new Error(`0x${address.toString(16)} is outside guest memory`);
    return this.bytes.subarray(off, off + length);
  }

  dma(): NvmeDma {
    return {
      read: async (address, dest): Promise<DmaResult> => {
        await nextTurn();
        const off = this.#offset(address, dest.length);
        if (off === undefined) return 'decode-error';
        dest.set(this.bytes.subarray(off, off + dest.length));
        return 'ok';
      },
      write: async (address, data): Promise<DmaResult> => {
        await nextTurn();
        const off = this.#offset(address, data.length);
        if (off === undefined) return 'decode-error';
        this.bytes.set(data, off);
        return 'ok';
      },
      map: (address, length) => {
        if (this.mode !== 'mmap') return undefined;
        const off = this.#offset(address, length);
        return off === undefined ? undefined : this.bytes.subarray(off, off + length);
      },
    };
  }
}

/** A block backend in memory; `failNext` makes the next matching operation fail with `code`. */
export class MemoryBackend implements NvmeBlockBackend {
  readonly data: Uint8Array;
  readOnly = false;
  flushes = 0;
  fuaWrites = 0;
  discards: { offset: number; length: number }[] = [];
  failNext: { op: 'read' | 'write' | 'flush'; code: string } | undefined;
  /** Operations started and not finished. */
  active = 0;
  /** When set, operations wait for `release()`. */
  #gate: { promise: Promise<void>; open: () => void } | undefined;

  constructor(size: number) {
    this.data = new Uint8Array(size);
  }
  get size(): number {
    return this.data.length;
  }
  /** Holds every operation until `release()`. */
  hold(): void {
    let open = (): void => {};
    const promise = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.#gate = { promise, open };
  }
  release(): void {
    this.#gate?.open();
    this.#gate = undefined;
  }
  async #enter(op: 'read' | 'write' | 'flush'): Promise<void> {
    this.active++;
    try {
      await nextTurn();
      if (this.#gate !== undefined) await this.#gate.promise;
    } finally {
      this.active--;
    }
    if (this.failNext?.op === op) {
      const code = this.failNext.code;
      this.failNext = undefined;
      throw Object.assign(new Error(`${op} failed`), { code });
    }
  }
  async readv(offset: number, iov: Uint8Array | readonly Uint8Array[]): Promise<void> {
    await this.#enter('read');
    let at = offset;
    for (const b of iov instanceof Uint8Array ? [iov] : iov) {
      b.set(this.data.subarray(at, at + b.length));
      at += b.length;
    }
  }
  async writev(
    offset: number,
    iov: Uint8Array | readonly Uint8Array[],
    options?: { fua?: boolean },
  ): Promise<void> {
    await this.#enter('write');
    let at = offset;
    for (const b of iov instanceof Uint8Array ? [iov] : iov) {
      this.data.set(b, at);
      at += b.length;
    }
    if (options?.fua) this.fuaWrites++;
  }
  async flush(): Promise<void> {
    await this.#enter('flush');
    this.flushes++;
  }
  async writeZeroes(offset: number, length: number): Promise<void> {
    await this.#enter('write');
    this.data.fill(0, offset, offset + length);
  }
  async discard(offset: number, length: number): Promise<void> {
    await this.#enter('write');
    this.discards.push({ offset, length });
    this.data.fill(0, offset, offset + length);
  }
}

/** Records interrupts; `mode` is what the "PCI layer" reports. */
export class RecordingInterrupts implements NvmeInterrupts {
  current: NvmeInterruptMode = 'msix';
  readonly notified: number[] = [];
  intx = false;
  mode(): NvmeInterruptMode {
    return this.current;
  }
  notify(vector: number): void {
    this.notified.push(vector);
  }
  setIntx(asserted: boolean): void {
    this.intx = asserted;
  }
}

/** A completion queue entry as the host reads it. */
export interface Cqe {
  dw0: number;
  dw1: number;
  sqHead: number;
  sqid: number;
  cid: number;
  /** Status without the phase bit (QEMU encoding: SCT << 8 | SC, DNR 0x4000). */
  status: number;
}

/** Fields of a submission queue entry. */
export interface Sqe {
  opcode: number;
  nsid?: number;
  /** CDW0 bits 15:14. */
  psdt?: number;
  prp1?: bigint | undefined;
  prp2?: bigint | undefined;
  /** Raw 16-byte SGL1 (overrides prp1/prp2). */
  sgl1?: Uint8Array;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
}

interface HostQueue {
  sqid: number;
  sqBase: bigint;
  sqSize: number;
  sqTail: number;
  cqBase: bigint;
  cqSize: number;
  cqHead: number;
  phase: number;
}

/** Register access to BAR0, as the host driver performs it. */
export interface HostMmio {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
  write64(offset: number, value: bigint): void;
}

/** A host driver over guest memory and BAR0 registers: queues, commands, completions. */
export class NvmeHost {
  readonly queues = new Map<number, HostQueue>();
  readonly #waiting = new Map<string, (cqe: Cqe) => void>();
  readonly completions: Cqe[] = [];
  #cid = 0;

  constructor(
    readonly memory: GuestMemory,
    readonly mmio: HostMmio,
  ) {}

  reg32(offset: number): number {
    return this.mmio.read32(offset);
  }

  /** Programs AQA/ASQ/ACQ and sets CC.EN with QEMU-compatible IOSQES/IOCQES. */
  enable(size = 32): void {
    const asq = this.memory.alloc(size * 64);
    const acq = this.memory.alloc(size * 16);
    this.mmio.write32(NvmeReg.AQA, ((size - 1) << 16) | (size - 1));
    this.mmio.write64(NvmeReg.ASQ, asq);
    this.mmio.write64(NvmeReg.ACQ, acq);
    this.mmio.write32(NvmeReg.CC, (6 << 16) | (4 << 20) | 1);
    this.queues.set(0, {
      sqid: 0,
      sqBase: asq,
      sqSize: size,
      sqTail: 0,
      cqBase: acq,
      cqSize: size,
      cqHead: 0,
      phase: 1,
    });
  }

  /** Writes `sqe` into SQ `qid` without ringing the doorbell; returns its cid. */
  place(qid: number, sqe: Sqe): number {
    const q = this.queues.get(qid);
    if (q === undefined) throw new Error(`no host queue ${qid}`);
    const cid = this.#cid++ & 0xffff;
    const e = this.memory.view(q.sqBase + BigInt(q.sqTail * 64), 64);
    e.fill(0);
    const dv = new DataView(e.buffer, e.byteOffset, 64);
    dv.setUint8(0, sqe.opcode);
    dv.setUint8(1, (sqe.psdt ?? 0) << 6);
    dv.setUint16(2, cid, true);
    dv.setUint32(4, sqe.nsid ?? 0, true);
    if (sqe.sgl1 !== undefined) e.set(sqe.sgl1, 24);
    else {
      dv.setBigUint64(24, sqe.prp1 ?? 0n, true);
      dv.setBigUint64(32, sqe.prp2 ?? 0n, true);
    }
    [sqe.cdw10, sqe.cdw11, sqe.cdw12, sqe.cdw13, sqe.cdw14, sqe.cdw15].forEach((v, i) => {
      dv.setUint32(40 + i * 4, (v ?? 0) >>> 0, true);
    });
    q.sqTail = (q.sqTail + 1) % q.sqSize;
    return cid;
  }

  ring(qid: number): void {
    const q = this.queues.get(qid)!;
    this.mmio.write32(0x1000 + qid * 8, q.sqTail);
  }

  /** Submits one command and resolves with its completion. */
  submit(qid: number, sqe: Sqe): Promise<Cqe> {
    const cid = this.place(qid, sqe);
    const done = this.expect(qid, cid);
    this.ring(qid);
    return done;
  }

  expect(qid: number, cid: number): Promise<Cqe> {
    return new Promise((resolve) => this.#waiting.set(`${qid}/${cid}`, resolve));
  }

  /** Reaps completions of every queue until the waited-for ones arrived (bounded). */
  async pump(maxTurns = 10_000): Promise<void> {
    for (let turn = 0; turn < maxTurns && this.#waiting.size > 0; turn++) {
      this.reap();
      if (this.#waiting.size === 0) return;
      await nextTurn();
    }
    if (this.#waiting.size > 0)
      throw new Error(`completions never arrived: ${[...this.#waiting.keys()].join(', ')}`);
  }

  /** Submits and pumps until the completion arrives. */
  async run(qid: number, sqe: Sqe): Promise<Cqe> {
    const done = this.submit(qid, sqe);
    await this.pump();
    return done;
  }

  /** Reads new completion entries of every host queue and rings the CQ head doorbells. */
  reap(): void {
    for (const q of this.queues.values()) {
      let reaped = false;
      for (;;) {
        const e = this.memory.view(q.cqBase + BigInt(q.cqHead * 16), 16);
        const dv = new DataView(e.buffer, e.byteOffset, 16);
        const statusWord = dv.getUint16(14, true);
        if ((statusWord & 1) !== q.phase) break;
        const cqe: Cqe = {
          dw0: dv.getUint32(0, true),
          dw1: dv.getUint32(4, true),
          sqHead: dv.getUint16(8, true),
          sqid: dv.getUint16(10, true),
          cid: dv.getUint16(12, true),
          status: statusWord >> 1,
        };
        this.completions.push(cqe);
        q.cqHead = (q.cqHead + 1) % q.cqSize;
        if (q.cqHead === 0) q.phase ^= 1;
        reaped = true;
        const key = `${cqe.sqid}/${cqe.cid}`;
        const w = this.#waiting.get(key);
        if (w !== undefined) {
          this.#waiting.delete(key);
          w(cqe);
        }
      }
      if (reaped) this.mmio.write32(0x1000 + q.sqid * 8 + 4, q.cqHead);
    }
  }

  /** Creates I/O CQ and SQ `qid` (same id) of `size` entries on MSI-X `vector`. */
  async createIoQueuePair(qid: number, size = 64, vector = qid): Promise<void> {
    const cq = this.memory.alloc(size * 16);
    const sq = this.memory.alloc(size * 64);
    const c1 = await this.run(0, {
      opcode: NvmeAdminOpcode.CREATE_CQ,
      prp1: cq,
      cdw10: ((size - 1) << 16) | qid,
      cdw11: (vector << 16) | 0x3,
    });
    if (c1.status !== 0) throw new Error(`create CQ ${qid}: status 0x${c1.status.toString(16)}`);
    const c2 = await this.run(0, {
      opcode: NvmeAdminOpcode.CREATE_SQ,
      prp1: sq,
      cdw10: ((size - 1) << 16) | qid,
      cdw11: (qid << 16) | 0x1,
    });
    if (c2.status !== 0) throw new Error(`create SQ ${qid}: status 0x${c2.status.toString(16)}`);
    this.queues.set(qid, {
      sqid: qid,
      sqBase: sq,
      sqSize: size,
      sqTail: 0,
      cqBase: cq,
      cqSize: size,
      cqHead: 0,
      phase: 1,
    });
  }
}

/** The controller core with guest memory, an in-memory backend and a host driver around it. */
export class NvmeTestBed extends NvmeHost {
  readonly interrupts = new RecordingInterrupts();
  readonly log = new RecordingLog();
  readonly backend: MemoryBackend;
  readonly controller: NvmeController;

  constructor(
    options: Partial<NvmeControllerOptions> & { backendSize?: number; logicalBlockSize?: 512 | 4096 } = {},
  ) {
    const memory = new GuestMemory();
    const ref: { controller?: NvmeController } = {};
    super(memory, {
      read32: (offset) => ref.controller!.read(offset, 4),
      write32: (offset, value) => ref.controller!.write(offset, value, 4),
      write64: (offset, value) => ref.controller!.write64(offset, value),
    });
    this.backend = new MemoryBackend(options.backendSize ?? 1 << 20);
    this.controller = new NvmeController({
      dma: this.memory.dma(),
      interrupts: this.interrupts,
      log: this.log,
      serial: 'deadbeef',
      namespaces: [{ backend: this.backend, logicalBlockSize: options.logicalBlockSize ?? 512 }],
      ...options,
    });
    ref.controller = this.controller;
  }
}
