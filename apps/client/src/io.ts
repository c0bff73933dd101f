/** Where the app writes and reads: the process's streams, or buffers in tests. */
export interface AppIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Input of interactive demos (default: none). */
  stdin?: AsyncIterable<Uint8Array | string>;
}
