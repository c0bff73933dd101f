import { BufferedCharBackend } from './char-backend';

/** Streams a {@link StdioCharBackend} uses; the process's own by default. */
export interface StdioCharBackendOptions {
  /** Where output goes (default `process.stdout`). */
  output?: NodeJS.WritableStream;
  /** Where input comes from (default `process.stdin`). */
  input?: NodeJS.ReadableStream & { setRawMode?: (raw: boolean) => unknown; isTTY?: boolean };
  /** Put a TTY input in raw mode while attached, so keys reach the guest one by one (default true). */
  raw?: boolean;
  /**
   * In raw mode, turn Ctrl-C (0x03) into SIGINT for this process instead of sending it to the
   * guest, as QEMU's `signal=on` default does, so the server stays stoppable (default true).
   */
  signals?: boolean;
}

const CTRL_C = 0x03;

/**
 * A backend on the process's standard streams (QEMU's `stdio` chardev): output to stdout, input
 * from stdin, paused while the UART has no room. Closing restores the terminal and stops reading.
 */
export class StdioCharBackend extends BufferedCharBackend {
  readonly kind = 'stdio';
  private readonly output: NodeJS.WritableStream;
  private readonly input: StdioCharBackendOptions['input'] & {};
  private readonly madeRaw: boolean;
  private readonly signals: boolean;
  private readonly onData = (chunk: Buffer | string) => {
    let bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
    if (this.madeRaw && this.signals && bytes.includes(CTRL_C)) {
      bytes = bytes.filter((b) => b !== CTRL_C);
      process.kill(process.pid, 'SIGINT');
    }
    this.pushInput(bytes);
  };

  constructor(options: StdioCharBackendOptions = {}) {
    super();
    this.output = options.output ?? process.stdout;
    this.input = options.input ?? process.stdin;
    this.signals = options.signals ?? true;
    this.madeRaw =
      (options.raw ?? true) && this.input.isTTY === true && typeof this.input.setRawMode === 'function';
    if (this.madeRaw) this.input.setRawMode?.(true);
    this.input.on('data', this.onData);
    this.input.resume();
  }

  write(data: Uint8Array): void {
    if (this.closed) return;
    this.output.write(data);
  }

  protected override onInputAboveHighWater(): void {
    this.input.pause();
  }

  protected override onInputBelowHighWater(): void {
    if (!this.closed) this.input.resume();
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.input.off('data', this.onData);
    this.input.pause();
    if (this.madeRaw) this.input.setRawMode?.(false);
    await super.close();
  }
}
