/**
 * Bytes received and not yet consumed, as a list of chunks (no concatenation on arrival).
 * Consumers take exact counts, copying only what they keep.
 */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** Removes and returns `n` bytes (n <= length) as one new buffer. */
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.takeInto(n, (piece, at) => out.set(piece, at));
    return out;
  }

  /** Removes `n` bytes (n <= length), handing them over in pieces: `sink(piece, offsetInN)`. */
  takeInto(n: number, sink: (piece: Uint8Array, at: number) => void): void {
    let done = 0;
    while (done < n) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length - this.#head, n - done);
      sink(chunk.subarray(this.#head, this.#head + take), done);
      done += take;
      this.#head += take;
      if (this.#head === chunk.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    this.#length -= n;
  }

  /** Drops `n` bytes (n <= length). */
  skip(n: number): void {
    this.takeInto(n, () => {});
  }

  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#length = 0;
  }
}
