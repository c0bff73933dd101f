/**
 * The queue side of the NVMe controller: doorbells (MMIO and shadow with EventIdx), round-robin
 * arbitration and command fetch, completion posting with phase tags, interrupts (MSI-X per
 * completion queue, MSI or INTx masked by INTMS, coalescing) and asynchronous events.
 *
 * Work is bounded: a round fetches at most `roundBudget` commands and then yields to the event
 * loop; at most `maxInflight` commands execute at once. Commands carry the generation they were
 * fetched in; after a reset their results are dropped and nothing reaches guest memory for them.
 */

import type { DeviceClock, GuestErrorEvent } from '../interfaces';
import type { NvmeFeatures } from './admin';
import {
  NVME_AER_INFO_ERR_INVALID_DB_REGISTER,
  NVME_AER_INFO_ERR_INVALID_DB_VALUE,
  NVME_DB_SIZE,
  NVME_REG_SIZE,
  NVME_SQE_SIZE,
  NvmeAerType,
  NvmeLogPage,
  NvmeStatus,
} from './constants';
import type { ErrorLogEntry } from './identify';
import {
  CompletionQueue,
  encodeCqe,
  type NvmeRequest,
  type NvmeResult,
  type PendingCompletion,
  SubmissionQueue,
} from './queues';
import type { NvmeDma, NvmeInterrupts } from './types';

/** What the queue engine needs from the controller around it. */
export interface QueueEngineHost {
  readonly dma: NvmeDma;
  readonly interrupts: NvmeInterrupts;
  readonly clock: DeviceClock;
  /** Commands executing at once, over every queue. */
  readonly maxInflight: number;
  /** Commands fetched per round before yielding to the event loop. */
  readonly roundBudget: number;
  /** Current feature values (arbitration burst, interrupt coalescing). */
  features(): NvmeFeatures;
  /** INTMS: vectors masked for MSI and INTx. */
  intms(): number;
  /** CSTS.RDY is set and no reset is draining: doorbells are accepted. */
  accepting(): boolean;
  /** Runs a fetched command; `undefined` for an Asynchronous Event Request (completed later). */
  execute(request: NvmeRequest): NvmeResult | Promise<NvmeResult> | undefined;
  /** Controller Fatal Status: queues in guest memory cannot be read. */
  fatal(): void;
  guestError(event: Omit<GuestErrorEvent, 'device'>): void;
}

interface AsyncEvent {
  readonly type: number;
  readonly info: number;
  readonly logPage: number;
}

/** Submission and completion queues of one controller and everything that moves them. */
export class NvmeQueueEngine {
  readonly #host: QueueEngineHost;
  readonly #dma: NvmeDma;
  readonly #irq: NvmeInterrupts;
  readonly #clock: DeviceClock;
  readonly #maxInflight: number;
  readonly #roundBudget: number;
  #sqs: (SubmissionQueue | undefined)[] = [];
  #cqs: (CompletionQueue | undefined)[] = [];
  #rrOrder: SubmissionQueue[] = [];
  #rrNext = 0;
  #generation = 0;
  #inflight = 0;
  #drainWaiters: (() => void)[] = [];
  #scheduled = false;
  #irqStatus = 0;
  #irqPending = new Set<CompletionQueue>();
  #irqFlushScheduled = false;
  #shadow: { doorbells: bigint; eventIdx: bigint } | undefined;
  #aerRequests: NvmeRequest[] = [];
  #events: AsyncEvent[] = [];
  #aerMask = 0;
  #errors: ErrorLogEntry[] = [];
  #errorCount = 0;

  constructor(host: QueueEngineHost) {
    this.#host = host;
    this.#dma = host.dma;
    this.#irq = host.interrupts;
    this.#clock = host.clock;
    this.#maxInflight = host.maxInflight;
    this.#roundBudget = host.roundBudget;
  }

  /** Bumped by every reset; commands of an older generation are void. */
  get generation(): number {
    return this.#generation;
  }

  /** Commands executing now. */
  get inflight(): number {
    return this.#inflight;
  }

  sq(sqid: number): SubmissionQueue | undefined {
    return this.#sqs[sqid];
  }

  cq(cqid: number): CompletionQueue | undefined {
    return this.#cqs[cqid];
  }

  /** The newest Error Information log entries, oldest first. */
  get errorLog(): readonly ErrorLogEntry[] {
    return this.#errors;
  }

  /** Asynchronous Event Requests waiting for an event. */
  get outstandingAers(): number {
    return this.#aerRequests.length;
  }

  /** Creates the admin queue pair (CC.EN 0 to 1). */
  createAdminQueues(sqSize: number, sqBase: bigint, cqSize: number, cqBase: bigint): void {
    const acq = new CompletionQueue(0, cqSize, cqBase, 0, true);
    this.#cqs[0] = acq;
    const asq = new SubmissionQueue(0, acq, sqSize, sqBase);
    acq.sqs.add(asq);
    this.#sqs[0] = asq;
    this.#rrOrder = [asq];
  }

  createCq(cqid: number, size: number, base: bigint, vector: number, irqEnabled: boolean): void {
    const cq = new CompletionQueue(cqid, size, base, vector, irqEnabled);
    this.#cqs[cqid] = cq;
    this.attachShadow(cq);
  }

  createSq(sqid: number, cq: CompletionQueue, size: number, base: bigint): void {
    const sq = new SubmissionQueue(sqid, cq, size, base);
    this.#sqs[sqid] = sq;
    cq.sqs.add(sq);
    this.#rrOrder = this.#sqs.filter((q): q is SubmissionQueue => q !== undefined);
    this.attachShadow(sq);
  }

  /** Stops fetching from `sq`, lets what was fetched complete (entries posted), then deletes it. */
  async deleteSq(sq: SubmissionQueue): Promise<void> {
    sq.deleting = true;
    if (sq.outstanding > 0) await new Promise<void>((resolve) => sq.idleWaiters.push(resolve));
    sq.deleted = true;
    sq.cq.sqs.delete(sq);
    if (this.#sqs[sq.sqid] === sq) this.#sqs[sq.sqid] = undefined;
    this.#rrOrder = this.#rrOrder.filter((q) => q !== sq);
  }

  deleteCq(cq: CompletionQueue): void {
    this.deassertIrq(cq);
    cq.deleted = true;
    cq.coalesceTimer?.cancel();
    cq.coalesceTimer = undefined;
    this.#irqPending.delete(cq);
    this.#cqs[cq.cqid] = undefined;
  }

  /** Parks an Asynchronous Event Request until an event is due. */
  parkAer(request: NvmeRequest): void {
    this.#aerRequests.push(request);
    this.processAers();
  }

  /** Unmasks events of `type` (the host read their log page without RAE). */
  clearEvents(type: number): void {
    this.#aerMask &= ~(1 << type);
    this.processAers();
  }

  /**
   * Deletes every queue and drops pending events and interrupts (controller reset). Commands in
   * flight finish; their results are dropped. Returns `drain()`.
   */
  reset(): Promise<void> {
    this.#generation++;
    for (const cq of this.#cqs) {
      if (cq === undefined) continue;
      cq.deleted = true;
      cq.coalesceTimer?.cancel();
      cq.coalesceTimer = undefined;
    }
    for (const sq of this.#sqs) if (sq !== undefined) sq.deleted = true;
    this.#sqs = [];
    this.#cqs = [];
    this.#rrOrder = [];
    this.#irqPending.clear();
    this.#aerRequests = [];
    this.#events = [];
    this.#aerMask = 0;
    this.#shadow = undefined;
    this.#irqStatus = 0;
    if (this.#irq.mode() === 'intx') this.#irq.setIntx(false);
    return this.drain();
  }

  /** Resolves when no command is executing. */
  drain(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #guestError(event: Omit<GuestErrorEvent, 'device'>): void {
    this.#host.guestError(event);
  }

  // ---------------------------------------------------------------- doorbells

  /** A write of `value` to the doorbell register at BAR0 `offset` (0x1000 and up). */
  doorbellWrite(offset: number, value: number): void {
    const index = (offset - NVME_REG_SIZE) / NVME_DB_SIZE;
    const qid = index >>> 1;
    const isCq = (index & 1) === 1;
    if (!this.#host.accepting()) {
      this.#guestError({ message: 'doorbell write while the controller is not ready', offset, value });
      return;
    }
    const what = isCq ? `CQ ${qid} head` : `SQ ${qid} tail`;
    const queue = isCq ? this.#cqs[qid] : this.#sqs[qid];
    if (queue === undefined || queue.deleted) {
      this.#guestError({
        message: `doorbell write to ${what} of a queue that does not exist`,
        offset,
        value,
      });
      this.#doorbellEvent(NVME_AER_INFO_ERR_INVALID_DB_REGISTER);
      return;
    }
    if (value >= queue.size) {
      this.#guestError({
        message: `doorbell write of ${value} to ${what} of a ${queue.size}-entry queue`,
        offset,
        value,
      });
      this.#doorbellEvent(NVME_AER_INFO_ERR_INVALID_DB_VALUE);
      return;
    }
    if (queue instanceof CompletionQueue) this.#cqHeadUpdated(queue, value);
    else {
      queue.tail = value;
      this.kick();
    }
  }

  #doorbellEvent(info: number): void {
    // As QEMU: the event is only raised while the host listens for events.
    if (this.#aerRequests.length > 0) this.enqueueEvent(NvmeAerType.ERROR, info, NvmeLogPage.ERROR_INFO);
  }

  #cqHeadUpdated(cq: CompletionQueue, head: number): void {
    cq.head = head;
    while (cq.waiting.length > 0 && !cq.full) this.#writeCqe(cq, cq.waiting.shift()!);
    if (cq.empty) this.deassertIrq(cq);
  }

  // ---------------------------------------------------------------- shadow doorbells

  /** Doorbell Buffer Config: shadow doorbells at `doorbells`, EventIdx slots at `eventIdx`. */
  configureShadowDoorbells(doorbells: bigint, eventIdx: bigint): void {
    this.#shadow = { doorbells, eventIdx };
    for (const sq of this.#sqs) if (sq !== undefined && sq.sqid !== 0) this.attachShadow(sq);
    for (const cq of this.#cqs) if (cq !== undefined && cq.cqid !== 0) this.attachShadow(cq);
  }

  /**
   * Points an I/O queue at its shadow doorbell and EventIdx slots and seeds the shadow with the
   * current value. The admin queue keeps MMIO doorbells: Linux never writes its shadow slot.
   */
  attachShadow(queue: SubmissionQueue | CompletionQueue): void {
    if (this.#shadow === undefined) return;
    const isCq = queue instanceof CompletionQueue;
    const qid = isCq ? queue.cqid : queue.sqid;
    const slot = BigInt((2 * qid + (isCq ? 1 : 0)) * NVME_DB_SIZE);
    queue.shadowDoorbell = this.#shadow.doorbells + slot;
    queue.eventIdx = this.#shadow.eventIdx + slot;
    this.#write32(queue.shadowDoorbell, isCq ? queue.head : queue.tail);
  }

  /** Reads a dword of guest memory now when it is mapped; otherwise reads it and calls `then`. */
  #read32(address: bigint, then: (value: number) => void): number | undefined {
    const view = this.#dma.map?.(address, 4, false);
    if (view !== undefined && view.length >= 4)
      return (view[0]! | (view[1]! << 8) | (view[2]! << 16) | (view[3]! << 24)) >>> 0;
    const buf = new Uint8Array(4);
    const generation = this.#generation;
    void this.#dma.read(address, buf).then((r) => {
      if (r === 'ok' && generation === this.#generation) then(new DataView(buf.buffer).getUint32(0, true));
    });
    return undefined;
  }

  #write32(address: bigint, value: number): void {
    const view = this.#dma.map?.(address, 4, true);
    const bytes = new Uint8Array([
      value & 0xff,
      (value >>> 8) & 0xff,
      (value >>> 16) & 0xff,
      (value >>> 24) & 0xff,
    ]);
    if (view !== undefined && view.length >= 4) view.set(bytes);
    else void this.#dma.write(address, bytes);
  }

  #applyShadowTail(sq: SubmissionQueue, value: number): boolean {
    if (value >= sq.size) {
      this.#guestError({
        message: `shadow doorbell of SQ ${sq.sqid} holds ${value}, beyond its ${sq.size} entries`,
      });
      return false;
    }
    const changed = value !== sq.tail;
    sq.tail = value;
    return changed;
  }

  #refreshShadowTail(sq: SubmissionQueue): void {
    if (sq.shadowDoorbell === undefined) return;
    const v = this.#read32(sq.shadowDoorbell, (late) => {
      if (!sq.deleted && this.#applyShadowTail(sq, late)) this.kick();
    });
    if (v !== undefined) this.#applyShadowTail(sq, v);
  }

  #refreshShadowHead(cq: CompletionQueue): void {
    if (cq.shadowDoorbell === undefined) return;
    const apply = (value: number): void => {
      if (value >= cq.size) {
        this.#guestError({
          message: `shadow doorbell of CQ ${cq.cqid} holds ${value}, beyond its ${cq.size} entries`,
        });
        return;
      }
      if (!cq.deleted) this.#cqHeadUpdated(cq, value);
    };
    const v = this.#read32(cq.shadowDoorbell, apply);
    if (v !== undefined && v < cq.size) cq.head = v;
  }

  // ---------------------------------------------------------------- arbitration and fetch

  /** Schedules an arbitration round. */
  kick(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // A microtask: the round runs right after the doorbell write returns, in the same turn.
    queueMicrotask(() => this.#round());
  }

  /** One arbitration round: round robin over the SQs, a burst per queue, bounded in total. */
  #round(): void {
    this.#scheduled = false;
    if (!this.#host.accepting()) return;
    const ab = this.#host.features().arbitration & 7;
    const burst = ab === 7 ? Number.POSITIVE_INFINITY : 1 << ab;
    let budget = this.#roundBudget;
    let progress = true;
    while (budget > 0 && progress && this.#inflight < this.#maxInflight) {
      progress = false;
      const order = this.#rrOrder;
      const start = this.#rrNext;
      for (let k = 0; k < order.length && budget > 0; k++) {
        const position = (start + k) % order.length;
        const taken = this.#fetch(order[position]!, Math.min(burst, budget));
        if (taken > 0) {
          budget -= taken;
          progress = true;
          // The next round starts after the queue served last.
          this.#rrNext = (position + 1) % order.length;
        }
      }
    }
    if (budget === 0) {
      // More work may wait: continue on a later turn so other endpoints get the loop.
      this.#scheduled = true;
      this.#clock.setTimer(0, () => this.#round());
    }
  }

  /** Fetches up to `max` commands from `sq` and starts them; returns how many. */
  #fetch(sq: SubmissionQueue, max: number): number {
    if (sq.fetching || sq.deleted || sq.deleting) return 0;
    if (sq.shadowDoorbell !== undefined) this.#refreshShadowTail(sq);
    let n = Math.min(sq.available, max, this.#maxInflight - this.#inflight, sq.size - sq.head);
    if (n <= 0) {
      this.#updateEventIdx(sq);
      return 0;
    }
    const address = sq.entryAddress(sq.head);
    const view = this.#dma.map?.(address, n * NVME_SQE_SIZE, false);
    if (view !== undefined && view.length >= NVME_SQE_SIZE) {
      n = Math.min(n, Math.floor(view.length / NVME_SQE_SIZE));
      for (let i = 0; i < n; i++) this.#start(sq, view.slice(i * NVME_SQE_SIZE, (i + 1) * NVME_SQE_SIZE));
      return n;
    }
    // Message DMA: one read for the batch, commands start when it lands.
    sq.fetching = true;
    const raw = new Uint8Array(n * NVME_SQE_SIZE);
    const generation = this.#generation;
    this.#inflight += n; // reserve, so the bound holds while the read is in flight
    void this.#dma.read(address, raw).then((result) => {
      this.#inflight -= n;
      sq.fetching = false;
      if (generation !== this.#generation || sq.deleted) {
        this.#settle();
        return;
      }
      if (result !== 'ok') {
        this.#guestError({
          message: `SQ ${sq.sqid} entries at 0x${address.toString(16)} are not accessible`,
        });
        this.#host.fatal();
        return;
      }
      for (let i = 0; i < n; i++) this.#start(sq, raw.subarray(i * NVME_SQE_SIZE, (i + 1) * NVME_SQE_SIZE));
      this.kick();
    });
    return n;
  }

  #updateEventIdx(sq: SubmissionQueue): void {
    if (sq.eventIdx === undefined || sq.shadowDoorbell === undefined) return;
    // Tell the host which tail we have seen, then look again: a tail written in between
    // would otherwise go unnoticed (the host skips the MMIO doorbell when EventIdx says so).
    this.#write32(sq.eventIdx, sq.tail);
    const before = sq.tail;
    this.#refreshShadowTail(sq);
    if (sq.tail !== before) this.kick();
  }

  #start(sq: SubmissionQueue, entry: Uint8Array): void {
    const cmd = new DataView(entry.buffer, entry.byteOffset, NVME_SQE_SIZE);
    sq.head = sq.head + 1 === sq.size ? 0 : sq.head + 1;
    const request: NvmeRequest = {
      sq,
      cmd,
      cid: cmd.getUint16(2, true),
      opcode: cmd.getUint8(0),
      nsid: cmd.getUint32(4, true),
      generation: this.#generation,
    };
    this.#inflight++;
    sq.outstanding++;
    let result: NvmeResult | Promise<NvmeResult> | undefined;
    try {
      result = this.#host.execute(request);
    } catch (e) {
      result = this.#internalError(request, e);
    }
    if (result === undefined) {
      // A parked Asynchronous Event Request: not executing, completed when an event is due.
      this.#inflight--;
      sq.outstanding--;
      this.#settle();
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (r) => this.#complete(request, r),
        (e: unknown) => this.#complete(request, this.#internalError(request, e)),
      );
    } else {
      this.#complete(request, result);
    }
  }

  #internalError(request: NvmeRequest, error: unknown): NvmeResult {
    this.#guestError({
      message: `internal error in opcode 0x${request.opcode.toString(16)} on SQ ${request.sq.sqid}: ${String(error)}`,
    });
    return { status: NvmeStatus.INTERNAL_DEV_ERROR };
  }

  // ---------------------------------------------------------------- completion

  #complete(request: NvmeRequest, result: NvmeResult): void {
    this.#inflight--;
    const sq = request.sq;
    sq.outstanding--;
    if (request.generation === this.#generation && !sq.deleted) {
      if (result.status !== NvmeStatus.SUCCESS) this.#recordError(request, result.status);
      this.#post(sq.cq, { request, result });
    }
    if (sq.outstanding === 0) for (const w of sq.idleWaiters.splice(0)) w();
    this.#settle();
    if (this.#inflight < this.#maxInflight && this.#rrOrder.length > 0) this.kick();
  }

  #settle(): void {
    if (this.#inflight === 0) for (const w of this.#drainWaiters.splice(0)) w();
  }

  #recordError(request: NvmeRequest, status: number): void {
    this.#errorCount++;
    this.#errors.push({
      errorCount: this.#errorCount,
      sqid: request.sq.sqid,
      cid: request.cid,
      status,
      lba: 0,
      nsid: request.nsid,
    });
    if (this.#errors.length > 64) this.#errors.shift();
  }

  #post(cq: CompletionQueue, completion: PendingCompletion): void {
    if (cq.deleted) return;
    if (cq.full && cq.shadowDoorbell !== undefined) this.#refreshShadowHead(cq);
    if (cq.waiting.length > 0 || cq.full) cq.waiting.push(completion);
    else this.#writeCqe(cq, completion);
  }

  #writeCqe(cq: CompletionQueue, completion: PendingCompletion): void {
    const { index, phase } = cq.claimSlot();
    const address = cq.entryAddress(index);
    const sqHead = completion.request.sq.head;
    if (cq.eventIdx !== undefined) this.#write32(cq.eventIdx, cq.head);
    const view = this.#dma.map?.(address, 16, true);
    if (cq.irqEnabled) {
      cq.irqDue = true;
      cq.coalesced++;
    }
    if (view !== undefined && view.length >= 16) {
      encodeCqe(view, completion.request, completion.result, sqHead, phase);
      this.#irqAfterPost(cq);
      return;
    }
    const entry = new Uint8Array(16);
    encodeCqe(entry, completion.request, completion.result, sqHead, phase);
    cq.writesInFlight++;
    void this.#dma.write(address, entry).then((r) => {
      cq.writesInFlight--;
      if (r !== 'ok')
        this.#guestError({ message: `CQ ${cq.cqid} entry at 0x${address.toString(16)} is not accessible` });
      this.#irqAfterPost(cq);
    });
  }

  // ---------------------------------------------------------------- interrupts

  #irqAfterPost(cq: CompletionQueue): void {
    if (!cq.irqEnabled || cq.deleted) return;
    this.#irqPending.add(cq);
    if (this.#irqFlushScheduled) return;
    this.#irqFlushScheduled = true;
    // Completions posted in the same turn share one interrupt per queue.
    queueMicrotask(() => this.#flushIrqs());
  }

  #flushIrqs(): void {
    this.#irqFlushScheduled = false;
    const f = this.#host.features();
    const threshold = (f.interruptCoalescing & 0xff) + 1;
    const timeNs = ((f.interruptCoalescing >>> 8) & 0xff) * 100_000;
    for (const cq of this.#irqPending) {
      if (cq.writesInFlight > 0 || !cq.irqDue || cq.deleted) continue;
      this.#irqPending.delete(cq);
      const coalesce = cq.cqid !== 0 && timeNs > 0 && f.coalescingDisabled[cq.vector] === 0;
      if (!coalesce || cq.coalesced >= threshold) {
        this.#fireIrq(cq);
      } else if (cq.coalesceTimer === undefined) {
        const generation = this.#generation;
        cq.coalesceTimer = this.#clock.setTimer(timeNs, () => {
          cq.coalesceTimer = undefined;
          if (generation === this.#generation && cq.irqDue && !cq.deleted) this.#fireIrq(cq);
        });
      }
    }
  }

  #fireIrq(cq: CompletionQueue): void {
    cq.irqDue = false;
    cq.coalesced = 0;
    cq.coalesceTimer?.cancel();
    cq.coalesceTimer = undefined;
    const mode = this.#irq.mode();
    if (mode === 'msix') {
      this.#irq.notify(cq.vector);
      return;
    }
    if (cq.vector < 32) {
      const bit = 1 << cq.vector;
      this.#irqStatus = (this.#irqStatus | bit) >>> 0;
      if (mode === 'msi' && (this.#host.intms() & bit) === 0) this.#irq.notify(cq.vector);
      if (mode === 'intx') this.updateIrqLine(0);
    }
  }

  deassertIrq(cq: CompletionQueue): void {
    if (cq.vector >= 32 || this.#irq.mode() === 'msix') return;
    for (const other of this.#cqs) {
      if (other !== undefined && other !== cq && other.vector === cq.vector && !other.empty) return;
    }
    this.#irqStatus = (this.#irqStatus & ~(1 << cq.vector)) >>> 0;
    this.updateIrqLine(0);
  }

  /** Applies INTMS to the pending vectors; `unmasked` bits were just cleared by INTMC. */
  updateIrqLine(unmasked: number): void {
    const mode = this.#irq.mode();
    const pending = (this.#irqStatus & ~this.#host.intms()) >>> 0;
    if (mode === 'intx') this.#irq.setIntx(pending !== 0);
    else if (mode === 'msi') {
      for (let v = 0; v < 32; v++) if ((pending & unmasked & (1 << v)) !== 0) this.#irq.notify(v);
    }
  }

  // ---------------------------------------------------------------- asynchronous events

  /** Queues an asynchronous event; it completes an outstanding request unless its type is masked. */
  enqueueEvent(type: number, info: number, logPage: number): void {
    if (this.#events.some((e) => e.type === type && e.info === info && e.logPage === logPage)) return;
    if (this.#events.length >= 64) return;
    this.#events.push({ type, info, logPage });
    this.processAers();
  }

  processAers(): void {
    while (this.#aerRequests.length > 0 && this.#events.length > 0) {
      const event = this.#events[0]!;
      // One event per type until the host reads its log page.
      if ((this.#aerMask & (1 << event.type)) !== 0) break;
      this.#events.shift();
      this.#aerMask |= 1 << event.type;
      const request = this.#aerRequests.shift()!;
      this.#post(request.sq.cq, {
        request,
        result: { status: NvmeStatus.SUCCESS, dw0: event.type | (event.info << 8) | (event.logPage << 16) },
      });
    }
  }
}
