/**
 * The NVMe controller's command parsing: submission queue entries from the input, on the admin
 * queue and on an I/O queue pair, in guest memory reached by DMA (mapped views), a namespace on an
 * in-memory backend. PRPs may be pointed into guest memory so commands get past the data pointer.
 * Invariants: no exception out of the register interface; every command gets exactly one
 * completion, on its queue's completion queue, with its command id and a sane status; nothing is
 * left hanging; the controller then still identifies itself. Commands that change the host's side
 * of the contract (asynchronous event requests, shadow doorbells, deleting the I/O queues, a
 * controller fatal status) relax the one-completion check to "nothing thrown, nothing hung".
 */
import {
  type DmaResult,
  NVME_CSTS_FAILED,
  NvmeAdminOpcode,
  NvmeController,
  type NvmeDma,
  NvmeReg,
  silentDeviceLog,
} from '@vfu/devices';
import { Finding, type FuzzTarget } from '../engine/target';
import { memoryBlockBackend } from '../memory-backend';

const BASE = 0x4000_0000n;
const MEMORY = 1 << 20;
const ASQ = 0x0000;
const ACQ = 0x1000;
const IOSQ = 0x2000;
const IOCQ = 0x3000;
const DATA = 0x10000;
const QSIZE = 32;
const RECORD = 65;
/** Turns of the event loop a batch of commands may take. */
const MAX_TURNS = 5000;

/** Record control byte: submit on I/O queue 1 rather than the admin queue. */
const CTL_IO = 0x01;
/** Record control byte: point PRP1 and PRP2 into guest memory. */
const CTL_PRP = 0x02;
/** Record control byte: ring the doorbell and wait for completions after this command. */
const CTL_RING = 0x04;
/** Record control byte: keep the command id of the input rather than a fresh one. */
const CTL_RAW_CID = 0x08;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class Host {
  readonly memory = new Uint8Array(MEMORY);
  readonly controller: NvmeController;
  readonly tails = [0, 0];
  readonly heads = [0, 0];
  readonly phases = [1, 1];
  /** Outstanding command ids per queue (multiset). */
  readonly waiting = [new Map<number, number>(), new Map<number, number>()];
  outstanding = 0;
  strict = true;
  ioQueue = false;
  #cid = 0;

  constructor() {
    const mem = this.memory;
    const offset = (address: bigint, length: number) => {
      const off = address - BASE;
      return off < 0n || off + BigInt(length) > BigInt(MEMORY) ? undefined : Number(off);
    };
    const dma: NvmeDma = {
      read: async (address, dest): Promise<DmaResult> => {
        const off = offset(address, dest.length);
        if (off === undefined) return 'decode-error';
        dest.set(mem.subarray(off, off + dest.length));
        return 'ok';
      },
      write: async (address, data): Promise<DmaResult> => {
        const off = offset(address, data.length);
        if (off === undefined) return 'decode-error';
        mem.set(data, off);
        return 'ok';
      },
      map: (address, length) => {
        const off = offset(address, length);
        return off === undefined ? undefined : mem.subarray(off, off + length);
      },
    };
    const backend = memoryBlockBackend(64 << 10);
    this.controller = new NvmeController({
      dma,
      interrupts: { mode: () => 'msix', notify: () => {}, setIntx: () => {} },
      log: silentDeviceLog,
      serial: 'fuzz',
      namespaces: [{ backend, logicalBlockSize: 512 }],
      maxIoQueuePairs: 4,
    });
  }

  write32(offset: number, value: number): void {
    try {
      this.controller.write(offset, value >>> 0, 4);
    } catch (e) {
      throw new Finding(`a register write at 0x${offset.toString(16)} threw: ${String(e)}`, { cause: e });
    }
  }

  csts(): number {
    try {
      return this.controller.read(NvmeReg.CSTS, 4);
    } catch (e) {
      throw new Finding(`reading CSTS threw: ${String(e)}`, { cause: e });
    }
  }

  /** Writes an entry into SQ `q` (0 admin, 1 I/O) and returns its command id. */
  place(q: number, entry: Uint8Array, rawCid: boolean): number {
    const base = q === 0 ? ASQ : IOSQ;
    const at = base + (this.tails[q] as number) * 64;
    this.memory.set(entry, at);
    const dv = new DataView(this.memory.buffer, at, 64);
    if (!rawCid) dv.setUint16(2, this.#cid++ & 0xffff, true);
    this.tails[q] = ((this.tails[q] as number) + 1) % QSIZE;
    const cid = dv.getUint16(2, true);
    const w = this.waiting[q] as Map<number, number>;
    w.set(cid, (w.get(cid) ?? 0) + 1);
    this.outstanding++;
    return cid;
  }

  ring(q: number): void {
    this.write32(0x1000 + q * 8, this.tails[q] as number);
  }

  /** Reaps completions of both CQs; each must answer an outstanding command of its SQ. */
  reap(): void {
    for (const q of [0, 1]) {
      if (q === 1 && !this.ioQueue) continue;
      const base = q === 0 ? ACQ : IOCQ;
      let reaped = false;
      for (;;) {
        const at = base + (this.heads[q] as number) * 16;
        const dv = new DataView(this.memory.buffer, at, 16);
        const status = dv.getUint16(14, true);
        if ((status & 1) !== this.phases[q]) break;
        const sqid = dv.getUint16(10, true);
        const cid = dv.getUint16(12, true);
        const sqHead = dv.getUint16(8, true);
        if (this.strict) {
          if (sqid !== q) throw new Finding(`a completion on CQ ${q} names SQ ${sqid}`);
          if (sqHead >= QSIZE)
            throw new Finding(`a completion reports SQ head ${sqHead} of a ${QSIZE}-entry queue`);
          const w = this.waiting[q] as Map<number, number>;
          const n = w.get(cid) ?? 0;
          if (n === 0)
            throw new Finding(`a completion for command id ${cid} on queue ${q}, which is not outstanding`);
          if (n === 1) w.delete(cid);
          else w.set(cid, n - 1);
          this.outstanding--;
        }
        this.heads[q] = ((this.heads[q] as number) + 1) % QSIZE;
        if (this.heads[q] === 0) this.phases[q] = (this.phases[q] as number) ^ 1;
        reaped = true;
      }
      if (reaped) this.write32(0x1000 + q * 8 + 4, this.heads[q] as number);
    }
  }

  /** Waits until no command is outstanding (strict mode) or the controller is idle. */
  async settle(what: string): Promise<void> {
    for (let turn = 0; turn < MAX_TURNS; turn++) {
      this.reap();
      if (this.strict && this.outstanding === 0) return;
      if ((this.csts() & NVME_CSTS_FAILED) !== 0) this.strict = false;
      if (!this.strict && turn > 50) return;
      await nextTurn();
    }
    const left = this.waiting.map((w, q) => [...w.keys()].map((cid) => `${q}/${cid}`).join(' ')).join(' ');
    throw new Finding(`${what}: ${this.outstanding} command(s) never completed (${left})`);
  }

  command(
    opcode: number,
    fields: { prp1?: bigint; cdw10?: number; cdw11?: number; nsid?: number },
  ): Uint8Array {
    const e = new Uint8Array(64);
    const dv = new DataView(e.buffer);
    dv.setUint8(0, opcode);
    dv.setUint32(4, fields.nsid ?? 0, true);
    dv.setBigUint64(24, fields.prp1 ?? 0n, true);
    dv.setUint32(40, fields.cdw10 ?? 0, true);
    dv.setUint32(44, fields.cdw11 ?? 0, true);
    return e;
  }

  async enable(): Promise<void> {
    this.write32(NvmeReg.AQA, ((QSIZE - 1) << 16) | (QSIZE - 1));
    this.controller.write64(NvmeReg.ASQ, BASE + BigInt(ASQ));
    this.controller.write64(NvmeReg.ACQ, BASE + BigInt(ACQ));
    this.write32(NvmeReg.CC, (6 << 16) | (4 << 20) | 1);
    this.place(
      0,
      this.command(NvmeAdminOpcode.CREATE_CQ, {
        prp1: BASE + BigInt(IOCQ),
        cdw10: ((QSIZE - 1) << 16) | 1,
        cdw11: (1 << 16) | 0x3,
      }),
      false,
    );
    this.ring(0);
    await this.settle('creating CQ 1');
    this.place(
      0,
      this.command(NvmeAdminOpcode.CREATE_SQ, {
        prp1: BASE + BigInt(IOSQ),
        cdw10: ((QSIZE - 1) << 16) | 1,
        cdw11: (1 << 16) | 0x1,
      }),
      false,
    );
    this.ring(0);
    await this.settle('creating SQ 1');
    this.ioQueue = true;
  }
}

/** Commands after which the host cannot count on one completion per command any more. */
function relaxes(q: number, e: Uint8Array): boolean {
  if (q !== 0) return false;
  const opcode = e[0] as number;
  const qid = new DataView(e.buffer, e.byteOffset).getUint16(40, true);
  return (
    opcode === NvmeAdminOpcode.ASYNC_EV_REQ ||
    opcode === NvmeAdminOpcode.DBBUF_CONFIG ||
    ((opcode === NvmeAdminOpcode.DELETE_SQ || opcode === NvmeAdminOpcode.DELETE_CQ) && qid !== 0)
  );
}

async function session(input: Uint8Array): Promise<void> {
  const host = new Host();
  await host.enable();
  const pending = [0, 0];
  for (let at = 0; at + RECORD <= input.length; at += RECORD) {
    const ctl = input[at] as number;
    const entry = input.slice(at + 1, at + RECORD);
    const q = (ctl & CTL_IO) !== 0 && host.ioQueue ? 1 : 0;
    if ((ctl & CTL_PRP) !== 0) {
      const dv = new DataView(entry.buffer);
      const span = BigInt(MEMORY - DATA);
      dv.setBigUint64(24, BASE + BigInt(DATA) + ((dv.getBigUint64(24, true) % span) & ~3n), true);
      dv.setBigUint64(32, BASE + BigInt(DATA) + ((dv.getBigUint64(32, true) % span) & ~0xfffn), true);
    }
    if (relaxes(q, entry)) host.strict = false;
    host.place(q, entry, (ctl & CTL_RAW_CID) !== 0);
    pending[q] = (pending[q] as number) + 1;
    if ((ctl & CTL_RING) !== 0 || (pending[q] as number) >= QSIZE / 2) {
      // Every queue with entries placed is rung, so everything waited for was submitted.
      for (const r of [0, 1]) {
        if ((pending[r] as number) > 0) host.ring(r);
        pending[r] = 0;
      }
      await host.settle('a batch of commands');
    }
  }
  for (const q of [0, 1]) if ((pending[q] as number) > 0) host.ring(q);
  await host.settle('the last commands');
  // Still alive: IDENTIFY controller on the admin queue, unless the admin queue is out of the
  // host's hands (shadow doorbells) or the controller failed.
  if (host.strict) {
    host.place(0, host.command(NvmeAdminOpcode.IDENTIFY, { prp1: BASE + BigInt(DATA), cdw10: 1 }), false);
    host.ring(0);
    await host.settle('IDENTIFY after the input');
  }
  await host.controller.drain();
}

export function nvmeTarget(): FuzzTarget {
  const record = (ctl: number, opcode: number, nsid: number, cdw10: number, cdw11 = 0, cdw12 = 0) => {
    const out = new Uint8Array(RECORD);
    const dv = new DataView(out.buffer);
    out[0] = ctl;
    dv.setUint8(1, opcode);
    dv.setUint32(1 + 4, nsid, true);
    dv.setUint32(1 + 40, cdw10, true);
    dv.setUint32(1 + 44, cdw11, true);
    dv.setUint32(1 + 48, cdw12, true);
    return out;
  };
  const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));
  const A = NvmeAdminOpcode;
  return {
    name: 'nvme',
    description: 'NVMe submission queue entries, admin and I/O; one completion each, no throw, no hang',
    scope: ['/packages/devices/src/nvme/'],
    maxLen: RECORD * 24,
    stateless: true,
    seeds: () => [
      cat(
        record(CTL_PRP | CTL_RING, A.IDENTIFY, 0, 1),
        record(CTL_PRP, A.IDENTIFY, 1, 0),
        record(CTL_PRP | CTL_RING, A.IDENTIFY, 0, 2),
      ),
      cat(
        record(CTL_PRP | CTL_RING, A.GET_LOG_PAGE, 0xffffffff, (15 << 16) | 2),
        record(CTL_RING, A.GET_FEATURES, 0, 7),
        record(CTL_RING, A.SET_FEATURES, 0, 7, 0x00030003),
      ),
      cat(
        record(CTL_IO | CTL_PRP, 0x01, 1, 0, 0, 7),
        record(CTL_IO | CTL_PRP | CTL_RING, 0x02, 1, 0, 0, 7),
        record(CTL_IO | CTL_RING, 0x00, 1, 0),
      ),
      cat(
        record(CTL_IO | CTL_PRP, 0x08, 1, 4, 0, 3),
        record(CTL_IO | CTL_PRP | CTL_RING, 0x09, 1, 0, 4),
        record(CTL_IO | CTL_PRP | CTL_RING, 0x02, 1, 120, 0, 15),
      ),
      cat(record(CTL_RING, A.ABORT, 0, 0x10000), record(CTL_PRP | CTL_RING, 0x80, 1, 0)),
    ],
    async run(input) {
      await session(input);
    },
    mutate(input, ctx) {
      // Records stay aligned: change fields of one record, or swap, duplicate, drop records.
      const n = Math.floor(input.length / RECORD);
      if (n === 0 || ctx.rng.oneIn(4)) return undefined;
      const records = Array.from({ length: n }, (_, i) => input.slice(i * RECORD, (i + 1) * RECORD));
      const i = ctx.rng.below(n);
      const r = records[i] as Uint8Array;
      const dv = new DataView(r.buffer);
      switch (ctx.rng.below(6)) {
        case 0:
          r[0] = ctx.rng.below(16);
          break;
        case 1:
          r[1] = ctx.rng.oneIn(2) ? ctx.rng.pick(Object.values(A)) : ctx.rng.below(256);
          break;
        case 2: // a command dword (10-15) or the nsid
          dv.setUint32(
            1 + ctx.rng.pick([4, 40, 44, 48, 52, 56, 60]),
            ctx.rng.oneIn(2) ? ctx.rng.u32() : ctx.rng.below(64),
            true,
          );
          break;
        case 3:
          records.splice(ctx.rng.below(n + 1), 0, r.slice());
          break;
        case 4:
          if (n > 1) records.splice(i, 1);
          break;
        default:
          r[2] = ctx.rng.below(4) << 6; // PSDT: PRP or SGL
      }
      return Uint8Array.from(Buffer.concat(records.slice(0, 24)));
    },
  };
}
