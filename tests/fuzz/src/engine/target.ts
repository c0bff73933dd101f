import type { MutationContext } from './mutate';

/**
 * A fuzz target: turns bytes into calls on a public API and checks what came back. `run` throws
 * a {@link Finding} (or anything else) only for a real defect: a rejection the API documents, such
 * as a typed error for malformed input, is a normal outcome and must be caught by the target.
 */
export interface FuzzTarget {
  readonly name: string;
  /** One line: what is driven and which invariants are checked. */
  readonly description: string;
  /** Script URL parts whose coverage guides the search (e.g. `/packages/protocol/src/`). */
  readonly scope: readonly string[];
  /** Largest input. */
  readonly maxLen: number;
  /**
   * Each run starts from the same state (nothing kept between runs, or reset), so an input gives
   * the same coverage whenever it runs, and inputs may run in batches with one coverage take.
   */
  readonly stateless: boolean;
  /** Words for the byte mutator's dictionary. */
  readonly dictionary?: readonly Uint8Array[];
  /** Starting inputs (besides the checked-in corpus). */
  seeds(): Uint8Array[];
  /** Builds what runs need (endpoints, sockets); called once before any run. */
  setup?(): Promise<void>;
  /** Runs one input. */
  run(input: Uint8Array): void | Promise<void>;
  /** Process-wide invariants (fds, memory, other endpoints), checked every so many runs. */
  check?(): void | Promise<void>;
  /** A structure-aware mutation, or undefined to fall back on byte mutation. */
  mutate?(input: Uint8Array, ctx: MutationContext): Uint8Array | undefined;
  /** Releases everything `setup` built. */
  teardown?(): Promise<void>;
}

/** A broken invariant: what was expected and what happened. */
export class Finding extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Finding';
  }
}
