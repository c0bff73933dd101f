/**
 * Submission and completion queues (NVMe 1.4 section 4.1): circular rings in guest memory, a
 * phase tag per completion entry, and the optional shadow doorbell and EventIdx slots of the
 * Doorbell Buffer Config command (section 5.7), which let the host skip MMIO doorbell writes.
 */

import type { TimerHandle } from '../interfaces';
import { NVME_CQE_SIZE, NVME_SQE_SIZE } from './constants';

/** A command fetched from a submission queue. */
export interface NvmeRequest {
  /** Queue it came from. */
  readonly sq: SubmissionQueue;
  /** The 64-byte entry (a private copy). */
  readonly cmd: DataView;
  /** Command identifier (CDW0 bits 31:16). */
  readonly cid: number;
  /** Opcode (CDW0 bits 7:0). */
  readonly opcode: number;
  /** Namespace id (CDW1). */
  readonly nsid: number;
  /** Controller generation when fetched; a reset in between makes the result void. */
  readonly generation: number;
}

/** The outcome of a command: status (QEMU encoding, see `NvmeStatus`) and result dwords. */
export interface NvmeResult {
  readonly status: number;
  readonly dw0?: number;
  readonly dw1?: number;
}

/** A completion waiting for room in its completion queue. */
export interface PendingCompletion {
  readonly request: NvmeRequest;
  readonly result: NvmeResult;
}

/** A submission queue: the host produces at `tail`, the controller consumes at `head`. */
export class SubmissionQueue {
  /** Host-written tail (doorbell or shadow doorbell). */
  tail = 0;
  /** Next entry the controller fetches. */
  head = 0;
  /** Commands fetched and not completed yet. */
  outstanding = 0;
  /** A fetch is in progress (entries are fetched in order, one batch at a time). */
  fetching = false;
  /** Being deleted: nothing more is fetched, outstanding commands still complete. */
  deleting = false;
  /** Deleted: completions of its outstanding commands are dropped. */
  deleted = false;
  /** Called when `outstanding` drops to zero. */
  readonly idleWaiters: (() => void)[] = [];
  /** Shadow doorbell slot (host writes the tail there) when Doorbell Buffer Config is active. */
  shadowDoorbell: bigint | undefined;
  /** EventIdx slot the controller writes. */
  eventIdx: bigint | undefined;

  constructor(
    /** Queue identifier. */
    readonly sqid: number,
    /** Completion queue its commands complete to. */
    readonly cq: CompletionQueue,
    /** Number of entries. */
    readonly size: number,
    /** Guest bus address of entry 0. */
    readonly baseAddress: bigint,
  ) {}

  /** Entries the host has submitted that are not fetched yet. */
  get available(): number {
    return (this.tail - this.head + this.size) % this.size;
  }

  /** Bus address of entry `index`. */
  entryAddress(index: number): bigint {
    return this.baseAddress + BigInt(index * NVME_SQE_SIZE);
  }
}

/** A completion queue: the controller produces at `tail`, the host consumes up to `head`. */
export class CompletionQueue {
  /** Host-written head (doorbell or shadow doorbell). */
  head = 0;
  /** Next slot the controller writes. */
  tail = 0;
  /** Phase tag written into the next entry; flips at each wrap. */
  phase = 1;
  /** Submission queues completing here (a CQ in use cannot be deleted). */
  readonly sqs = new Set<SubmissionQueue>();
  /** Completions waiting for room. */
  readonly waiting: PendingCompletion[] = [];
  /** Entry writes still in flight (message DMA); the interrupt waits for them. */
  writesInFlight = 0;
  /** Entries posted since the last interrupt (interrupt coalescing). */
  coalesced = 0;
  /** Aggregation timer of interrupt coalescing. */
  coalesceTimer: TimerHandle | undefined;
  /** An interrupt is due once the writes in flight land. */
  irqDue = false;
  /** Deleted: nothing more is posted. */
  deleted = false;
  /** Shadow doorbell slot (host writes the head there). */
  shadowDoorbell: bigint | undefined;
  /** EventIdx slot the controller writes. */
  eventIdx: bigint | undefined;

  constructor(
    /** Queue identifier. */
    readonly cqid: number,
    /** Number of entries. */
    readonly size: number,
    /** Guest bus address of entry 0. */
    readonly baseAddress: bigint,
    /** Interrupt vector (MSI-X entry, or bit of INTMS/INTMC otherwise). */
    readonly vector: number,
    /** Whether posting raises the interrupt (CDW11.IEN). */
    readonly irqEnabled: boolean,
  ) {}

  /** No room for another entry (one slot stays empty to tell full from empty). */
  get full(): boolean {
    return (this.tail + 1) % this.size === this.head;
  }

  /** Everything posted has been consumed. */
  get empty(): boolean {
    return this.head === this.tail;
  }

  /** Bus address of entry `index`. */
  entryAddress(index: number): bigint {
    return this.baseAddress + BigInt(index * NVME_CQE_SIZE);
  }

  /** Claims the next slot: returns its index and the phase to write, and advances the tail. */
  claimSlot(): { index: number; phase: number } {
    const index = this.tail;
    const phase = this.phase;
    this.tail++;
    if (this.tail === this.size) {
      this.tail = 0;
      this.phase ^= 1;
    }
    return { index, phase };
  }
}

/** Encodes a 16-byte completion entry (NVMe 1.4 figure 121). */
export function encodeCqe(
  out: Uint8Array,
  request: NvmeRequest,
  result: NvmeResult,
  sqHead: number,
  phase: number,
): void {
  const dv = new DataView(out.buffer, out.byteOffset, NVME_CQE_SIZE);
  dv.setUint32(0, (result.dw0 ?? 0) >>> 0, true);
  dv.setUint32(4, (result.dw1 ?? 0) >>> 0, true);
  dv.setUint16(8, sqHead, true);
  dv.setUint16(10, request.sq.sqid, true);
  dv.setUint16(12, request.cid, true);
  // The status word goes last: the host polls the phase tag in it.
  dv.setUint16(14, ((result.status << 1) | phase) & 0xffff, true);
}
