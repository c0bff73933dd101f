/**
 * One submission/completion queue pair in guest memory, as a host driver keeps it: entries are
 * written into the submission ring, the tail doorbell is rung once per turn for every command
 * placed in it, and completions are matched to commands by command identifier.
 */

import { NvmeDriverError } from './errors';

/** A completion queue entry. */
export interface NvmeCompletion {
  /** Command specific result. */
  readonly dw0: number;
  readonly dw1: number;
  /** Submission queue head when the entry was posted. */
  readonly sqHead: number;
  readonly sqid: number;
  readonly cid: number;
  /** Status field without the phase tag (SCT << 8 | SC, More 0x2000, DNR 0x4000). */
  readonly status: number;
}

/** Where the pair lives and how its doorbells are rung. */
export interface QueuePairInit {
  readonly qid: number;
  /** Entries per queue. */
  readonly size: number;
  /** Bytes of the submission ring (size * 64) and the completion ring (size * 16). */
  readonly sq: Uint8Array;
  readonly cq: Uint8Array;
  /** Writes the SQ tail (`isCq` false) or CQ head doorbell. */
  ring(qid: number, isCq: boolean, value: number): void;
  /** Per-command timeout in milliseconds (0: none). */
  readonly timeoutMs: number;
}

interface Pending {
  readonly opcode: number;
  resolve(c: NvmeCompletion): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout | undefined;
}

/** One I/O (or the admin) queue pair. */
export class QueuePair {
  readonly qid: number;
  readonly size: number;
  readonly #init: QueuePairInit;
  readonly #sq: DataView;
  readonly #cq: DataView;
  #tail = 0;
  #head = 0;
  #phase = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #freeCids: number[] = [];
  readonly #waiters: (() => void)[] = [];
  #ringScheduled = false;
  #closed: string | undefined;

  constructor(init: QueuePairInit) {
    this.#init = init;
    this.qid = init.qid;
    this.size = init.size;
    this.#sq = new DataView(init.sq.buffer, init.sq.byteOffset, init.sq.byteLength);
    this.#cq = new DataView(init.cq.buffer, init.cq.byteOffset, init.cq.byteLength);
    init.cq.fill(0);
    // One entry stays free to tell a full queue from an empty one.
    for (let cid = init.size - 2; cid >= 0; cid--) this.#freeCids.push(cid);
  }

  /** Commands submitted and not completed. */
  get inflight(): number {
    return this.#pending.size;
  }

  /**
   * Submits a command: `fill` writes CDW0's opcode and flags and everything after the command
   * identifier into the 64-byte entry (already zeroed). Waits for a free slot when the queue is full.
   */
  async submit(opcode: number, fill: (entry: DataView) => void): Promise<NvmeCompletion> {
    while (this.#freeCids.length === 0 && this.#closed === undefined) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    if (this.#closed !== undefined) {
      throw new NvmeDriverError('aborted', this.#closed, { qid: this.qid, opcode });
    }
    const cid = this.#freeCids.pop()!;
    const at = this.#tail * 64;
    const entry = new DataView(this.#sq.buffer, this.#sq.byteOffset + at, 64);
    new Uint8Array(entry.buffer, entry.byteOffset, 64).fill(0);
    fill(entry);
    entry.setUint8(0, opcode);
    entry.setUint16(2, cid, true);
    this.#tail = (this.#tail + 1) % this.size;
    const done = new Promise<NvmeCompletion>((resolve, reject) => {
      const pending: Pending = { opcode, resolve, reject, timer: undefined };
      if (this.#init.timeoutMs > 0) {
        pending.timer = setTimeout(() => {
          // The slot stays taken: the controller may still complete it later.
          this.#pending.delete(cid);
          reject(
            new NvmeDriverError(
              'timeout',
              `command 0x${opcode.toString(16)} on queue ${this.qid} timed out`,
              {
                qid: this.qid,
                opcode,
              },
            ),
          );
        }, this.#init.timeoutMs);
      }
      this.#pending.set(cid, pending);
    });
    if (!this.#ringScheduled) {
      // Every command placed in this turn goes with one doorbell write.
      this.#ringScheduled = true;
      queueMicrotask(() => {
        this.#ringScheduled = false;
        this.#init.ring(this.qid, false, this.#tail);
      });
    }
    return done;
  }

  /** Consumes new completion entries, settles their commands and rings the CQ head doorbell. */
  reap(): number {
    let n = 0;
    for (;;) {
      const at = this.#head * 16;
      const statusWord = this.#cq.getUint16(at + 14, true);
      if ((statusWord & 1) !== this.#phase) break;
      const completion: NvmeCompletion = {
        dw0: this.#cq.getUint32(at, true),
        dw1: this.#cq.getUint32(at + 4, true),
        sqHead: this.#cq.getUint16(at + 8, true),
        sqid: this.#cq.getUint16(at + 10, true),
        cid: this.#cq.getUint16(at + 12, true),
        status: statusWord >> 1,
      };
      this.#head++;
      if (this.#head === this.size) {
        this.#head = 0;
        this.#phase ^= 1;
      }
      n++;
      const pending = this.#pending.get(completion.cid);
      if (pending !== undefined) {
        this.#pending.delete(completion.cid);
        if (pending.timer !== undefined) clearTimeout(pending.timer);
        if (completion.status === 0) pending.resolve(completion);
        else {
          pending.reject(
            new NvmeDriverError(
              'command-failed',
              `command 0x${pending.opcode.toString(16)} on queue ${this.qid} failed with status 0x${completion.status.toString(16)}`,
              { qid: this.qid, opcode: pending.opcode, status: completion.status },
            ),
          );
        }
      }
      this.#freeCids.push(completion.cid);
      this.#waiters.shift()?.();
    }
    if (n > 0) this.#init.ring(this.qid, true, this.#head);
    return n;
  }

  /** Fails every outstanding command with `reason` (controller reset, driver closed). */
  abortAll(reason: string): void {
    this.#closed = reason;
    for (const [cid, p] of this.#pending) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(new NvmeDriverError('aborted', reason, { qid: this.qid, opcode: p.opcode }));
      this.#pending.delete(cid);
    }
    for (const w of this.#waiters.splice(0)) w();
  }
}
