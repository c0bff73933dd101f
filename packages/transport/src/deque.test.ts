import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { Deque } from './deque';

describe('Deque', () => {
  test.prop([fc.array(fc.oneof(fc.integer(), fc.constant('shift' as const)), { maxLength: 500 })])(
    'behaves as an array queue for any mix of pushes and shifts',
    (ops) => {
      const deque = new Deque<number>(2);
      const model: number[] = [];
      for (const op of ops) {
        if (op === 'shift') expect(deque.shift()).toBe(model.shift());
        else {
          deque.push(op);
          model.push(op);
        }
        expect(deque.length).toBe(model.length);
        expect(deque.peek()).toBe(model[0]);
      }
      expect(deque.drain()).toEqual(model);
      expect(deque.length).toBe(0);
    },
  );

  it('keeps its ring at most twice the largest length however many items pass through', () => {
    const deque = new Deque<number>(4);
    for (let i = 0; i < 100_000; i++) {
      deque.push(i);
      deque.push(i);
      deque.shift();
      if (deque.length > 100) deque.shift();
    }
    expect(deque.capacity).toBeLessThanOrEqual(256);
  });
});
