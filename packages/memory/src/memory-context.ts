import { AddressSpace } from './address-space';
import { MemoryError } from './errors';
import type { MemoryRegion } from './memory-region';
import { MmioDispatcher } from './mmio-dispatch';
import { ErrorCollector } from './topology';

/** Listener rounds per commit before giving up on listeners that keep changing the topology. */
const MAX_COMMIT_ROUNDS = 64;

/**
 * Owner of a set of address spaces and of their transactions (one per PCI root bus). QEMU keeps
 * this state in globals; here two contexts never share a transaction, a listener or a FlatView,
 * so two served devices' memory maps cannot touch.
 *
 * Region changes outside `begin`/`commit` take effect at once (an implicit one-change
 * transaction). Inside, the affected FlatViews are rendered once, when the outermost `commit`
 * runs, and listeners see one `begin`, the diff, and one `commit`.
 */
export class MemoryContext {
  /** Name used in dumps and errors. */
  readonly name: string;
  /** @internal Runs MMIO callbacks and holds the re-entrancy guard for this context's accesses. */
  readonly _dispatcher = new MmioDispatcher();
  #depth = 0;
  #committing = false;
  readonly #spaces = new Set<AddressSpace>();
  readonly #pending = new Set<AddressSpace>();

  constructor(name = 'memory') {
    if (typeof name !== 'string') {
      throw new MemoryError('invalid-argument', `context name must be a string, got ${typeof name}`);
    }
    this.name = name;
  }

  /** The live address spaces created from this context, in creation order. */
  get addressSpaces(): readonly AddressSpace[] {
    return [...this.#spaces];
  }

  /** Nesting depth of the open transactions (0 = none). */
  get transactionDepth(): number {
    return this.#depth;
  }

  /** Creates an AddressSpace viewing `root` (placed at address 0), rendered at once. */
  createAddressSpace(name: string, root: MemoryRegion): AddressSpace {
    return new AddressSpace(this, name, root);
  }

  /** Opens a (nestable) transaction: region changes are batched until the matching outermost `commit`. */
  begin(): void {
    this.#depth++;
  }

  /** Closes a transaction; the outermost one renders changed FlatViews once and notifies listeners. */
  commit(): void {
    if (this.#depth === 0) {
      throw new MemoryError(
        'transaction-underflow',
        `commit() without begin() in memory context "${this.name}"`,
      );
    }
    this.#depth--;
    if (this.#depth === 0 && !this.#committing) this.#flush();
  }

  /** Runs `fn` inside `begin()`/`commit()`; commits even if `fn` throws. */
  transaction<T>(fn: () => T): T {
    this.begin();
    try {
      return fn();
    } finally {
      this.commit();
    }
  }

  /** @internal An address space's graph changed. */
  _markPending(as: AddressSpace): void {
    this.#pending.add(as);
    if (this.#depth === 0 && !this.#committing) this.#flush();
  }

  /** @internal Called by the AddressSpace constructor. */
  _register(as: AddressSpace): void {
    this.#spaces.add(as);
  }

  /** @internal */
  _removeSpace(as: AddressSpace): void {
    this.#spaces.delete(as);
    this.#pending.delete(as);
  }

  #flush(): void {
    this.#committing = true;
    const errors = new ErrorCollector();
    const report = errors.report;
    try {
      let rounds = 0;
      while (this.#pending.size > 0) {
        if (++rounds > MAX_COMMIT_ROUNDS) {
          this.#pending.clear();
          throw new MemoryError(
            'topology-unstable',
            `listeners changed the memory topology in ${MAX_COMMIT_ROUNDS} successive commits in context "${this.name}"`,
          );
        }
        const spaces = [...this.#pending];
        this.#pending.clear();
        const all = [...this.#spaces];
        for (const as of all) as._callAll('begin', report);
        for (const as of spaces) if (this.#spaces.has(as)) as._update(report);
        for (const as of all) as._callAll('commit', report);
      }
    } finally {
      this.#committing = false;
    }
    if (errors.failed) {
      throw new MemoryError('listener-failed', `a memory listener threw in context "${this.name}"`, {
        cause: errors.first,
      });
    }
  }
}
