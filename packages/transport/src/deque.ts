/**
 * A FIFO over a ring buffer: push, shift and peek are O(1) (amortised for push, which doubles the
 * ring when full). `Array.prototype.shift` moves every element, which turns draining a long queue
 * into quadratic work.
 */
export class Deque<T> {
  #ring: (T | undefined)[];
  #head = 0;
  #length = 0;

  constructor(initialCapacity = 16) {
    this.#ring = new Array<T | undefined>(Math.max(2, initialCapacity));
  }

  get length(): number {
    return this.#length;
  }

  /** Slots allocated (at most twice the largest length reached, or the initial capacity). */
  get capacity(): number {
    return this.#ring.length;
  }

  push(item: T): void {
    if (this.#length === this.#ring.length) this.#grow();
    this.#ring[(this.#head + this.#length) % this.#ring.length] = item;
    this.#length++;
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#ring[this.#head];
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#ring[this.#head];
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#length--;
    return item;
  }

  /** Removes every item, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }

  #grow(): void {
    const old = this.#ring;
    const ring = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.#length; i++) ring[i] = old[(this.#head + i) % old.length];
    this.#ring = ring;
    this.#head = 0;
  }
}
