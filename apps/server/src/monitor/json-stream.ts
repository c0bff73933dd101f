/**
 * Splits a byte stream into top-level JSON texts, as QEMU's JSON lexer does for QMP: objects may
 * follow each other with or without newlines, and may arrive in any chunking. A value that is not
 * an object, bad JSON or an over-long message yields an error item, and parsing resumes after it.
 */

/** One item out of the stream: a parsed object, or why the bytes were not one. */
export type JsonStreamItem = { kind: 'value'; value: unknown } | { kind: 'error'; message: string };

/** Default longest message (QEMU's is 64 MiB of tokens; a monitor command is far smaller). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 20;

/** Incremental splitter; feed it text with {@link push}. */
export class JsonStreamSplitter {
  readonly #maxBytes: number;
  #buffer = '';
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** Characters of a non-object top-level value being skipped up to the next newline. */
  #junk = '';
  #overlong = false;

  constructor(maxBytes: number = DEFAULT_MAX_MESSAGE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Feeds a chunk; returns every item it completes. */
  push(chunk: string): JsonStreamItem[] {
    const out: JsonStreamItem[] = [];
    for (const ch of chunk) {
      if (this.#depth === 0) {
        if (this.#junk !== '') {
          if (ch === '\n') {
            out.push({
              kind: 'error',
              message: `expected a JSON object, got ${JSON.stringify(this.#junk.trim())}`,
            });
            this.#junk = '';
          } else if (this.#junk.length < 64) {
            this.#junk += ch;
          }
          continue;
        }
        if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') continue;
        if (ch !== '{') {
          this.#junk = ch;
          continue;
        }
      }
      if (!this.#overlong) this.#buffer += ch;
      if (this.#buffer.length > this.#maxBytes && !this.#overlong) {
        this.#overlong = true;
        this.#buffer = '';
      }
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (ch === '\\') this.#escaped = true;
        else if (ch === '"') this.#inString = false;
        continue;
      }
      if (ch === '"') this.#inString = true;
      else if (ch === '{' || ch === '[') this.#depth++;
      else if (ch === '}' || ch === ']') {
        this.#depth--;
        if (this.#depth === 0) out.push(this.#complete());
      }
    }
    return out;
  }

  /** Whether a message is partly received. */
  get pending(): boolean {
    return this.#depth > 0 || this.#junk !== '';
  }

  #complete(): JsonStreamItem {
    const text = this.#buffer;
    const overlong = this.#overlong;
    this.#buffer = '';
    this.#overlong = false;
    if (overlong) return { kind: 'error', message: `message longer than ${this.#maxBytes} bytes` };
    try {
      return { kind: 'value', value: JSON.parse(text) };
    } catch (e) {
      return { kind: 'error', message: `invalid JSON: ${(e as Error).message}` };
    }
  }
}
