/**
 * Requests sent and not yet answered: message id allocation, reply matching, and the timeouts.
 * One timer per channel serves every request (a timer per request costs more than the round
 * trip itself): armed for the earliest deadline, it fails what has expired and re-arms.
 */
import { Errno } from '@vfu/protocol';
import { TransportError } from './errors';
import { describeCommand } from './received-message';

/** One outstanding request. */
export interface Pending<M> {
  command: number;
  acceptFds: number;
  resolve(message: M): void;
  reject(error: TransportError): void;
  /** performance.now() after which the request fails with TIMEOUT (Infinity: never). */
  deadline: number;
  timeoutMs: number;
  cleanup: (() => void) | undefined;
}

/** Message ids are 16 bits; ids still outstanding are skipped. */
const MSG_ID_MASK = 0xffff;

/** The outstanding requests of one channel, by message id. */
export class PendingRequests<M> {
  readonly #pending = new Map<number, Pending<M>>();
  /** Ids of requests that timed out or were aborted: their late replies are dropped quietly. */
  readonly #abandoned = new Set<number>();
  #nextMsgId = 1;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #stopped = false;

  get size(): number {
    return this.#pending.size;
  }

  /** A free message id, or undefined when all 65536 are outstanding. */
  allocateMsgId(): number | undefined {
    for (let tries = 0; tries <= MSG_ID_MASK; tries++) {
      const id = this.#nextMsgId;
      this.#nextMsgId = (this.#nextMsgId + 1) & MSG_ID_MASK;
      // An abandoned id is reused only when nothing else is free: its late reply would be taken
      // for the new request's.
      if (!this.#pending.has(id) && (!this.#abandoned.has(id) || tries > MSG_ID_MASK >> 1)) return id;
    }
    return undefined;
  }

  /** The id a No_reply command may use (it is never matched). */
  anyMsgId(): number {
    return this.allocateMsgId() ?? this.#nextMsgId;
  }

  /** Registers a sent request; starts its timeout. */
  add(msgId: number, pending: Pending<M>): void {
    this.#pending.set(msgId, pending);
    this.#abandoned.delete(msgId);
    if (pending.timeoutMs > 0) {
      pending.deadline = performance.now() + pending.timeoutMs;
      this.#arm(pending.deadline);
    }
  }

  get(msgId: number): Pending<M> | undefined {
    return this.#pending.get(msgId);
  }

  /** Removes `pending` if it is still outstanding under `msgId`; returns whether it was. */
  settle(msgId: number, pending: Pending<M>): boolean {
    if (this.#pending.get(msgId) !== pending) return false;
    this.#pending.delete(msgId);
    pending.cleanup?.();
    return true;
  }

  /** Settles a request whose reply will be dropped if it still comes. */
  abandon(msgId: number, pending: Pending<M>): void {
    if (this.settle(msgId, pending)) this.#abandoned.add(msgId);
  }

  /** True (once) when `msgId` belonged to an abandoned request: drop its reply quietly. */
  wasAbandoned(msgId: number): boolean {
    return this.#abandoned.delete(msgId);
  }

  /** Fails every outstanding request with the error `makeError` builds for it. */
  failAll(makeError: (p: Pending<M>, msgId: number) => TransportError): void {
    for (const [msgId, pending] of [...this.#pending]) {
      this.settle(msgId, pending);
      const error = makeError(pending, msgId);
      pending.reject(
        new TransportError(
          error.code,
          `${describeCommand(pending.command)} (msg_id ${msgId}): ${error.message}`,
          {
            command: pending.command,
            msgId,
            ...(error.errno === undefined ? {} : { errno: error.errno }),
            cause: error.cause ?? error,
          },
        ),
      );
    }
  }

  /** Stops the timer for good (the channel is gone). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(deadline: number): void {
    if (this.#stopped || (this.#timer !== undefined && this.#timerAt <= deadline)) return;
    clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, deadline - performance.now()));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [msgId, pending] of [...this.#pending]) {
      if (pending.deadline <= now) {
        this.abandon(msgId, pending);
        const { command, timeoutMs } = pending;
        pending.reject(
          new TransportError(
            'TIMEOUT',
            `no reply to ${describeCommand(command)} (msg_id ${msgId}) within ${timeoutMs} ms`,
            { command, msgId, errno: Errno.ETIMEDOUT },
          ),
        );
      } else if (pending.deadline < next) {
        next = pending.deadline;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  }
}
