import { BufferedCharBackend } from './char-backend';

/**
 * A backend in memory, for tests and embedding: `input()` feeds the UART (with the same flow
 * control as the other backends), everything the UART sends is kept and can be taken.
 */
export class MemoryCharBackend extends BufferedCharBackend {
  readonly kind = 'memory';
  private output: Uint8Array[] = [];
  private readonly listeners = new Set<(data: Uint8Array) => void>();

  /** Bytes (or a string, sent as UTF-8) arriving on the line for the UART. */
  input(data: Uint8Array | string): void {
    this.pushInput(typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
  }

  /** A break condition arriving on the line. */
  sendBreak(): void {
    this.pushBreak();
  }

  write(data: Uint8Array): void {
    if (this.closed) return;
    const copy = data.slice();
    this.output.push(copy);
    for (const listener of this.listeners) listener(copy);
  }

  /** Call `listener` with every chunk the UART sends; returns a function that unsubscribes. */
  onOutput(listener: (data: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Everything sent since the last take, as one array; clears it. */
  takeOutput(): Uint8Array {
    const all = concat(this.output);
    this.output = [];
    return all;
  }

  /** Everything sent since the last take, decoded as UTF-8; clears it. */
  takeOutputText(): string {
    return new TextDecoder().decode(this.takeOutput());
  }

  override async close(): Promise<void> {
    this.listeners.clear();
    await super.close();
  }
}

/** A backend that discards output and never produces input (QEMU's `null` chardev). */
export class NullCharBackend extends BufferedCharBackend {
  readonly kind = 'null';
  write(_data: Uint8Array): void {}
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}
