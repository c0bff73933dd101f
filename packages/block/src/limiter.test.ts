import { describe, expect, it } from 'vitest';
import { InflightLimiter } from './limiter';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('InflightLimiter', () => {
  it('never runs more than its limit at once, and starts waiters in order', async () => {
    const limiter = new InflightLimiter(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    let peak = 0;
    const runs = gates.map((g, i) =>
      limiter.run(async () => {
        started.push(i);
        peak = Math.max(peak, limiter.active);
        await g.promise;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(limiter.queued).toBe(2);
    gates[1]!.resolve();
    await runs[1];
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.resolve();
    await Promise.all(runs);
    expect(peak).toBe(2);
    expect(limiter.active).toBe(0);
  });

  it('drain resolves once everything running and queued has finished', async () => {
    const limiter = new InflightLimiter(1);
    const g = deferred();
    const done: string[] = [];
    void limiter.run(() => g.promise.then(() => done.push('a')));
    void limiter.run(async () => {
      done.push('b');
    });
    const drained = limiter.drain().then(() => done.push('drained'));
    g.resolve();
    await drained;
    expect(done).toEqual(['a', 'b', 'drained']);
  });

  it('frees the slot when the work throws', async () => {
    const limiter = new InflightLimiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(limiter.active).toBe(0);
    await expect(limiter.run(async () => 7)).resolves.toBe(7);
  });
});
