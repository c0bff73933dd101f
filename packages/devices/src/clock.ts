import type { DeviceClock, TimerHandle } from './interfaces';

/**
 * A {@link DeviceClock} on the host's event loop: `setImmediate` for zero delays, `setTimeout`
 * otherwise (millisecond resolution, so delays below 1 ms round up to the next loop turn).
 * Timers are unref'ed: a pending device timer does not keep the process alive on its own.
 */
export function createHostClock(): DeviceClock {
  const origin = process.hrtime.bigint();
  return {
    now: () => Number(process.hrtime.bigint() - origin),
    setTimer(delayNs: number, callback: () => void): TimerHandle {
      if (delayNs <= 0) {
        const immediate = setImmediate(callback);
        immediate.unref();
        return { cancel: () => clearImmediate(immediate) };
      }
      const timeout = setTimeout(callback, Math.ceil(delayNs / 1e6));
      timeout.unref();
      return { cancel: () => clearTimeout(timeout) };
    },
  };
}

interface ManualTimer {
  readonly deadline: number;
  readonly sequence: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A {@link DeviceClock} that only moves when told to, for deterministic tests: `advance(ns)` runs
 * every timer that falls due, in deadline order (ties in creation order), with `now()` set to the
 * timer's deadline while it runs; `runPending()` runs what is due now, including zero-delay timers.
 */
export class ManualClock implements DeviceClock {
  private current = 0;
  private sequence = 0;
  private timers: ManualTimer[] = [];

  /** Current virtual time in nanoseconds (starts at 0). */
  now(): number {
    return this.current;
  }

  /** Queue `callback` at `now() + delayNs`; it runs from `advance`/`runPending`, never inline. */
  setTimer(delayNs: number, callback: () => void): TimerHandle {
    const timer: ManualTimer = {
      deadline: this.current + Math.max(0, delayNs),
      sequence: this.sequence++,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
        const i = this.timers.indexOf(timer);
        if (i >= 0) this.timers.splice(i, 1);
      },
    };
  }

  /** Number of timers still waiting (cancelled ones excluded). */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Run the timers due at the current time; returns how many ran. */
  runPending(): number {
    return this.advance(0);
  }

  /** Move time forward by `deltaNs`, running each timer as its deadline is reached. */
  advance(deltaNs: number): number {
    const target = this.current + Math.max(0, deltaNs);
    let ran = 0;
    for (;;) {
      const next = this.nextDue(target);
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = Math.max(this.current, next.deadline);
      ran++;
      next.callback();
    }
    this.current = target;
    this.timers = this.timers.filter((t) => !t.cancelled);
    return ran;
  }

  private nextDue(limit: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers) {
      if (t.cancelled || t.deadline > limit) continue;
      if (
        best === undefined ||
        t.deadline < best.deadline ||
        (t.deadline === best.deadline && t.sequence < best.sequence)
      ) {
        best = t;
      }
    }
    return best;
  }
}
