import { accessBytes, checkAccess, ramBytes, rw, translateRam } from './access';
import { MemoryError } from './errors';
import { FlatView, renderFlatView } from './flat-view';
import type { MemoryContext } from './memory-context';
import { MemoryRegion, type RegionObserver } from './memory-region';
import { dumpFlatView } from './mtree';
import { callListener, ErrorCollector, insertByPriority, notifyDiff, replay, sectionOf } from './topology';
import { checkValue, checkValue64, readTyped, writeTyped } from './typed-access';
import type {
  AccessFault,
  AccessFaultReason,
  MemoryListener,
  MemoryRegionSection,
  MemTxResult,
  UnassignedAccess,
} from './types';

const EMPTY_VIEW = new FlatView([]);

/**
 * What one master (a CPU, a device's DMA engine) sees from `root`: QEMU's `AddressSpace`.
 * Created by `MemoryContext.createAddressSpace`.
 *
 * Accesses never throw for guest-visible conditions: they return a `MemTxResult`. Unassigned
 * addresses read as 0 and drop writes (`decode-error`, QEMU's `io_mem_unassigned` default) and
 * are reported to `onUnassignedAccess` hooks; refused accesses read as 0 (`access-error`) and are
 * reported to `onAccessFault` hooks. Bad arguments (non-bigint or out-of-range addresses) throw
 * a `MemoryError`.
 */
export class AddressSpace implements RegionObserver {
  readonly name: string;
  readonly root: MemoryRegion;
  /** The context that created this address space and owns its transactions. */
  readonly context: MemoryContext;
  #flatView: FlatView;
  #renderCount = 0;
  #destroyed = false;
  /** Sorted by priority, registration order among equals. */
  #listeners: MemoryListener[] = [];
  readonly #unassignedHooks = new Set<(e: UnassignedAccess) => void>();
  readonly #faultHooks = new Set<(e: AccessFault) => void>();

  /**
   * Creates an address space viewing `root` (placed at address 0) in `context`, rendered at once.
   * Same as `context.createAddressSpace(name, root)`.
   */
  constructor(context: MemoryContext, name: string, root: MemoryRegion) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new MemoryError('invalid-argument', 'address space name must be a non-empty string');
    }
    if (!(root instanceof MemoryRegion)) {
      throw new MemoryError('invalid-argument', 'address space root must be a MemoryRegion', {
        regionName: name,
      });
    }
    if (typeof context !== 'object' || context === null || typeof context._register !== 'function') {
      throw new MemoryError('invalid-argument', 'address space needs a MemoryContext', { regionName: name });
    }
    this.context = context;
    this.name = name;
    this.root = root;
    this.#flatView = renderFlatView(root);
    this.#renderCount = 1;
    root._addObserver(this);
    context._register(this);
  }

  /** The current rendering of the graph. Replaced (never mutated) by each commit that changes it. */
  get flatView(): FlatView {
    return this.#flatView;
  }

  /** How many times the FlatView was rendered (1 at creation, then at most one per commit). */
  get renderCount(): number {
    return this.#renderCount;
  }

  /** Whether `destroy` was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** @internal A region under the root changed. */
  regionChanged(): void {
    if (!this.#destroyed) this.context._markPending(this);
  }

  /** @internal Re-renders and feeds the diff to the listeners (deletions first, in reverse order). */
  _update(report: (e: unknown) => void): void {
    const oldView = this.#flatView;
    this.#flatView = renderFlatView(this.root);
    this.#renderCount++;
    notifyDiff(this.#listeners, oldView, this.#flatView, report);
  }

  /** @internal Calls `begin` or `commit` on every listener, in priority order. */
  _callAll(what: 'begin' | 'commit', report: (e: unknown) => void): void {
    // Both in priority order, as QEMU's MEMORY_LISTENER_CALL_GLOBAL(begin/commit, Forward).
    for (const l of this.#listeners) callListener(l, what, undefined, report);
  }

  /**
   * Registers `listener` and replays the current sections to it (`begin`, `regionAdd` for each,
   * `commit`). Listeners with lower `priority` see additions first and deletions last.
   */
  addListener(listener: MemoryListener): void {
    this._checkAlive();
    if (typeof listener !== 'object' || listener === null) {
      throw new MemoryError('invalid-argument', 'listener must be an object', { regionName: this.name });
    }
    const priority = listener.priority ?? 0;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) {
      throw new MemoryError(
        'invalid-argument',
        `listener priority must be a number, got ${String(priority)}`,
        {
          regionName: this.name,
        },
      );
    }
    if (this.#listeners.includes(listener)) {
      throw new MemoryError('invalid-argument', 'listener is already registered', { regionName: this.name });
    }
    this.#listeners = insertByPriority(this.#listeners, listener);
    this.#replay(listener, 'regionAdd');
  }

  /** Unregisters `listener`, first calling `regionDel` for every current section (as QEMU does). */
  removeListener(listener: MemoryListener): void {
    const i = this.#listeners.indexOf(listener);
    if (i < 0) return;
    this.#listeners = this.#listeners.filter((l) => l !== listener);
    this.#replay(listener, 'regionDel');
  }

  #replay(listener: MemoryListener, what: 'regionAdd' | 'regionDel'): void {
    const errors = new ErrorCollector();
    replay(listener, this.#flatView, what, errors.report);
    if (errors.failed) {
      throw new MemoryError('listener-failed', `memory listener threw during ${what} replay`, {
        regionName: this.name,
        cause: errors.first,
      });
    }
  }

  /** Calls `hook` for every access that hits no region, until the returned function is called. */
  onUnassignedAccess(hook: (e: UnassignedAccess) => void): () => void {
    const h = (e: UnassignedAccess) => hook(e);
    this.#unassignedHooks.add(h);
    return () => {
      this.#unassignedHooks.delete(h);
    };
  }

  /** Calls `hook` for every access refused with `access-error`, with the reason, until the returned function is called. */
  onAccessFault(hook: (e: AccessFault) => void): () => void {
    const h = (e: AccessFault) => hook(e);
    this.#faultHooks.add(h);
    return () => {
      this.#faultHooks.delete(h);
    };
  }

  /**
   * Unregisters from the root, sends `regionDel` for every section to each listener, and drops
   * them. Later accesses throw `destroyed`. Calling it twice is harmless.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.root._removeObserver(this);
    this.context._removeSpace(this);
    const listeners = [...this.#listeners].reverse();
    this.#listeners = [];
    const errors = new ErrorCollector();
    for (const l of listeners) replay(l, this.#flatView, 'regionDel', errors.report);
    this.#flatView = EMPTY_VIEW;
    if (errors.failed) {
      throw new MemoryError(
        'listener-failed',
        'memory listener threw while the address space was destroyed',
        {
          regionName: this.name,
          cause: errors.first,
        },
      );
    }
  }

  /** `info mtree -f`-style listing of the current FlatView. */
  dumpFlatView(): string {
    return dumpFlatView(this);
  }

  // ---------------------------------------------------------------- accesses

  /**
   * Reads `dest.length` bytes at `address`, across region boundaries (each region's part is done by
   * its own rules; MMIO is cut into naturally aligned pieces as QEMU's `address_space_rw`).
   * Asynchronous regions cannot be read this way (`access-error`); use `readAsync`.
   * Returns the first failure met, after doing every part.
   */
  read(address: bigint, dest: Uint8Array): MemTxResult {
    return accessBytes(this, address, dest, false);
  }

  /** Writes `data` at `address`; see `read`. */
  write(address: bigint, data: Uint8Array): MemTxResult {
    return accessBytes(this, address, data, true);
  }

  /**
   * The fast path of `read` alone: when `[address, address + dest.length)` lies inside one RAM
   * range (below 2^53), reads it and returns the result; otherwise does nothing and returns
   * `undefined` (for callers that then take an asynchronous path, as PCI DMA does).
   */
  readRam(address: bigint, dest: Uint8Array): MemTxResult | undefined {
    return ramBytes(this, address, dest, false);
  }

  /** The fast path of `write` alone; see `readRam`. Read-only RAM is not taken (`undefined`). */
  writeRam(address: bigint, data: Uint8Array): MemTxResult | undefined {
    return ramBytes(this, address, data, true);
  }

  /** Like `read`, for every kind of region including asynchronous ones and IOMMU targets. */
  async readAsync(address: bigint, dest: Uint8Array): Promise<MemTxResult> {
    checkAccess(this, address, dest, 'dest');
    return rw(this, address, dest, false, 0, true);
  }

  /** Like `write`, for every kind of region including asynchronous ones and IOMMU targets. */
  async writeAsync(address: bigint, data: Uint8Array): Promise<MemTxResult> {
    checkAccess(this, address, data, 'data');
    return rw(this, address, data, true, 0, true);
  }

  /**
   * Typed little-endian accesses. Each is one access of its size, as QEMU's `address_space_ld*_le`:
   * an MMIO region sees one validated access (split or widened for its callbacks) even when
   * unaligned; an access spanning several ranges falls back to `read`/`write`. Unassigned or
   * refused reads return 0; failures go to the hooks. RAM and MMIO below 2^53 take a fast path.
   */
  readU8(address: bigint): number {
    return readTyped(this, address, 1);
  }
  /** See `readU8`. */
  readU16(address: bigint): number {
    return readTyped(this, address, 2);
  }
  /** See `readU8`. */
  readU32(address: bigint): number {
    return readTyped(this, address, 4);
  }
  /** See `readU8`. */
  readU64(address: bigint): bigint {
    return readTyped(this, address, 8);
  }

  /** Typed little-endian write; see `readU8`. `value` must fit in 8 bits (negative values as two's complement). */
  writeU8(address: bigint, value: number): void {
    writeTyped(this, address, 1, checkValue(this, address, value, 1));
  }
  /** See `writeU8`; 16 bits. */
  writeU16(address: bigint, value: number): void {
    writeTyped(this, address, 2, checkValue(this, address, value, 2));
  }
  /** See `writeU8`; 32 bits. */
  writeU32(address: bigint, value: number): void {
    writeTyped(this, address, 4, checkValue(this, address, value, 4));
  }
  /** See `writeU8`; 64 bits, `value` in [-2^63, 2^64). */
  writeU64(address: bigint, value: bigint): void {
    writeTyped(this, address, 8, checkValue64(this, address, value));
  }

  /**
   * Direct access for RAM: the bytes of the RAM range at `address`, up to `length` (fewer if the
   * range ends first), or `undefined` if `address` is not RAM/ROM (or, with `forWrite`, is
   * read-only). The view stays valid while the region keeps its backing; it does not follow later
   * topology changes. With `forWrite`, the pages are marked dirty now; plain writes into a view
   * obtained without it bypass dirty logging (call `markDirty`).
   */
  translateRam(address: bigint, length: number, forWrite = false): Uint8Array | undefined {
    return translateRam(this, address, length, forWrite);
  }

  /** The sections currently visible, as listeners see them. */
  sections(): MemoryRegionSection[] {
    return this.#flatView.ranges.map(sectionOf);
  }

  /** @internal Throws `destroyed` once the space is destroyed. */
  _checkAlive(): void {
    if (this.#destroyed) {
      throw new MemoryError('destroyed', `address space "${this.name}" was destroyed`, {
        regionName: this.name,
      });
    }
  }

  /** @internal Whether `x` is an address space (an IOMMU translation's target must be one). */
  _isAddressSpace(x: unknown): x is AddressSpace {
    return x instanceof AddressSpace;
  }

  /** @internal Tells the `onUnassignedAccess` hooks about an access that hit no region. */
  _unassigned(address: bigint, size: number, isWrite: boolean): void {
    if (this.#unassignedHooks.size === 0) return;
    const e: UnassignedAccess = { address, size, isWrite };
    for (const h of this.#unassignedHooks) h(e);
  }

  /** @internal Tells the `onAccessFault` hooks about a refused access; returns its result. */
  _fault(
    address: bigint,
    size: number,
    isWrite: boolean,
    region: MemoryRegion,
    reason: AccessFaultReason,
    cause: unknown,
  ): 'access-error' {
    if (this.#faultHooks.size > 0) {
      const e: AccessFault = { address, size, isWrite, region, reason };
      if (cause !== undefined) e.cause = cause;
      for (const h of this.#faultHooks) h(e);
    }
    return 'access-error';
  }
}
