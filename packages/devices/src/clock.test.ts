import { describe, expect, test } from 'vitest';
import { createHostClock, ManualClock } from './clock';

describe('ManualClock', () => {
  test('timers run in deadline order with now() at their deadline', () => {
    const clock = new ManualClock();
    const seen: [string, number][] = [];
    clock.setTimer(20, () => seen.push(['b', clock.now()]));
    clock.setTimer(10, () => seen.push(['a', clock.now()]));
    clock.setTimer(20, () => seen.push(['c', clock.now()]));
    expect(clock.advance(15)).toBe(1);
    expect(clock.advance(100)).toBe(2);
    expect(seen).toEqual([
      ['a', 10],
      ['b', 20],
      ['c', 20],
    ]);
    expect(clock.now()).toBe(115);
  });

  test('a zero-delay timer never runs inside setTimer, only from runPending', () => {
    const clock = new ManualClock();
    let ran = false;
    clock.setTimer(0, () => {
      ran = true;
    });
    expect(ran).toBe(false);
    clock.runPending();
    expect(ran).toBe(true);
  });

  test('cancelled timers do not run and are not pending', () => {
    const clock = new ManualClock();
    let ran = false;
    const t = clock.setTimer(5, () => {
      ran = true;
    });
    t.cancel();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(10);
    expect(ran).toBe(false);
  });

  test('a timer set from a timer callback runs in the same advance when due', () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    clock.setTimer(5, () => clock.setTimer(5, () => seen.push(clock.now())));
    clock.advance(10);
    expect(seen).toEqual([10]);
  });
});

describe('host clock', () => {
  test('runs zero-delay and delayed timers on the event loop', async () => {
    const clock = createHostClock();
    const order: string[] = [];
    await new Promise<void>((resolve) => {
      clock.setTimer(1_000_000, () => {
        order.push('1ms');
        resolve();
      });
      clock.setTimer(0, () => order.push('now'));
    });
    expect(order).toEqual(['now', '1ms']);
    expect(clock.now()).toBeGreaterThan(0);
  });

  test('cancel stops a host timer', async () => {
    const clock = createHostClock();
    let ran = false;
    clock
      .setTimer(0, () => {
        ran = true;
      })
      .cancel();
    await new Promise((r) => setTimeout(r, 5));
    expect(ran).toBe(false);
  });
});
