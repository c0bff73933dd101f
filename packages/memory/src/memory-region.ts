import { hex } from '@vfu/errors';
import { ADDRESS_LIMIT, checkAddress, checkSize, MAX_SAFE } from './address';
import { checkPageSize, DirtyLog } from './dirty-log';
import { MemoryError } from './errors';
import { type ResolvedMmioOps, resolveMmioOps } from './mmio-dispatch';
import type {
  AsyncMemoryRegionOps,
  IommuOps,
  IommuTlbEntry,
  MemoryRegionOps,
  MemoryRegionOps64,
} from './types';

/** The kinds of region, one constructor each. */
export type MemoryRegionKind = 'ram' | 'rom' | 'io' | 'async-io' | 'alias' | 'container' | 'iommu';

/** Options common to every region constructor. */
export interface MemoryRegionOptions {
  /** The device or object the region belongs to; MMIO re-entrancy is guarded per owner. */
  owner?: unknown;
}

/** Options of `MemoryRegion.ram`. */
export interface RamRegionOptions extends MemoryRegionOptions {
  /** Bytes to use instead of a fresh zeroed buffer (e.g. client memory mapped from an fd). */
  backing?: Uint8Array;
  /** Writes through an AddressSpace are refused. */
  readonly?: boolean;
  /** Largest size `setSize` may grow to (QEMU's resizeable RAM); default the initial size, or the backing's length. */
  maxSize?: bigint;
  /**
   * For a `backing` that can vanish (memory shared by another process, guarded by `@vfu/sys`): a
   * cell its owner sets nonzero once the memory behind it was lost. Every AddressSpace access is
   * checked after it is made, so the access that met the loss fails too, with `access-error`
   * (reason `backing-lost`); views from `translateRam` are not checked.
   */
  backingLost?: Int32Array;
}

/** Options of `MemoryRegion.rom`. */
export interface RomRegionOptions extends MemoryRegionOptions {
  backing?: Uint8Array;
}

/** Something to tell when a region below it changes (an AddressSpace rooted above). */
export interface RegionObserver {
  regionChanged(): void;
}

interface RegionInit {
  name: string;
  kind: MemoryRegionKind;
  size: bigint;
  owner: unknown;
  readonly?: boolean;
  bytes?: Uint8Array;
  lost?: Int32Array | undefined;
  ops?: ResolvedMmioOps;
  asyncOps?: AsyncMemoryRegionOps;
  iommuOps?: IommuOps;
  aliasTarget?: MemoryRegion;
  aliasOffset?: bigint;
}

/** Largest MMIO region: offsets reach the callbacks as exact numbers. */
const MAX_MMIO_SIZE = MAX_SAFE + 1n;

/**
 * A node of the memory graph (QEMU's `MemoryRegion`): RAM, ROM, MMIO, asynchronous MMIO, alias,
 * container or IOMMU. Create one with the static constructor of its kind, place it with
 * `addSubregion`/`addSubregionOverlap`, and view it through an `AddressSpace`.
 *
 * Every mutator takes effect at once, or at the end of the current transaction of each
 * `MemoryContext` whose address spaces show the region.
 */
export class MemoryRegion {
  /** Name shown by `info mtree` and in errors. */
  readonly name: string;
  readonly kind: MemoryRegionKind;
  /** The object that created the region, if given. */
  readonly owner: unknown;

  #size: bigint;
  #parent: MemoryRegion | undefined;
  #address = 0n;
  #priority = 0;
  #mayOverlap = false;
  #enabled = true;
  #readonly: boolean;
  #bytes: Uint8Array | undefined;
  #ramBuffer: Uint8Array | undefined;
  #aliasTarget: MemoryRegion | undefined;
  #aliasOffset: bigint;
  readonly #aliasedBy = new Set<WeakRef<MemoryRegion>>();
  readonly #observers = new Set<RegionObserver>();
  readonly #iommuNotifiers = new Set<(entry: IommuTlbEntry) => void>();

  /** @internal Subregions in resolution order: descending priority, newest first among equals. */
  readonly _subregions: MemoryRegion[] = [];
  /** @internal */
  readonly _ops: ResolvedMmioOps | undefined;
  /** @internal */
  readonly _asyncOps: AsyncMemoryRegionOps | undefined;
  /** @internal */
  readonly _iommuOps: IommuOps | undefined;
  /** @internal DataView over the whole RAM capacity, for the access fast path. */
  readonly _view: DataView | undefined;
  /** @internal The `backingLost` cell of RAM, if given. */
  readonly _lost: Int32Array | undefined;
  /** @internal Present while dirty logging is on. */
  _dirty: DirtyLog | undefined;

  private constructor(init: RegionInit) {
    this.name = init.name;
    this.kind = init.kind;
    this.#size = init.size;
    this.owner = init.owner;
    this.#readonly = init.readonly ?? false;
    this.#bytes = init.bytes;
    this._view = init.bytes && new DataView(init.bytes.buffer, init.bytes.byteOffset, init.bytes.byteLength);
    this.#ramBuffer = init.bytes?.subarray(0, Number(init.size));
    this._lost = init.lost;
    this._ops = init.ops;
    this._asyncOps = init.asyncOps;
    this._iommuOps = init.iommuOps;
    this.#aliasTarget = init.aliasTarget;
    this.#aliasOffset = init.aliasOffset ?? 0n;
    if (init.aliasTarget !== undefined) init.aliasTarget.#aliasedBy.add(new WeakRef(this));
  }

  /**
   * RAM of `size` bytes: a fresh zeroed buffer owned by the region, or `opts.backing` (the caller's
   * bytes, used in place; it must hold at least `size` bytes).
   */
  static ram(name: string, size: bigint, opts: RamRegionOptions = {}): MemoryRegion {
    return MemoryRegion.#ramLike('ram', name, size, opts, opts.readonly === true, opts.maxSize);
  }

  /** Read-only memory: reads like RAM, writes through an AddressSpace are refused. */
  static rom(name: string, size: bigint, opts: RomRegionOptions = {}): MemoryRegion {
    return MemoryRegion.#ramLike('rom', name, size, opts, true, undefined);
  }

  static #ramLike(
    kind: 'ram' | 'rom',
    name: string,
    size: bigint,
    opts: RamRegionOptions,
    readonly: boolean,
    maxSize: bigint | undefined,
  ): MemoryRegion {
    checkName(name);
    checkSize(size, name);
    let capacity = size;
    if (maxSize !== undefined) {
      checkSize(maxSize, name);
      if (maxSize < size) {
        throw new MemoryError('invalid-size', `maxSize ${hex(maxSize)} is below size ${hex(size)}`, {
          regionName: name,
        });
      }
      capacity = maxSize;
    }
    let bytes: Uint8Array;
    if (opts.backing !== undefined) {
      if (!(opts.backing instanceof Uint8Array)) {
        throw new MemoryError('invalid-argument', 'backing must be a Uint8Array', { regionName: name });
      }
      if (BigInt(opts.backing.byteLength) < capacity) {
        throw new MemoryError(
          'invalid-size',
          `backing holds ${hex(opts.backing.byteLength)} bytes, region needs ${hex(capacity)}`,
          { regionName: name },
        );
      }
      bytes = opts.backing.subarray(0, Number(capacity));
    } else {
      if (capacity > MAX_SAFE) {
        throw new MemoryError('allocation-failed', `cannot allocate ${hex(capacity)} bytes of RAM`, {
          regionName: name,
        });
      }
      try {
        bytes = new Uint8Array(Number(capacity));
      } catch (e) {
        throw new MemoryError('allocation-failed', `cannot allocate ${hex(capacity)} bytes of RAM`, {
          regionName: name,
          cause: e,
        });
      }
    }
    if (opts.backingLost !== undefined && !(opts.backingLost instanceof Int32Array)) {
      throw new MemoryError('invalid-argument', 'backingLost must be an Int32Array', { regionName: name });
    }
    return new MemoryRegion({ name, kind, size, owner: opts.owner, readonly, bytes, lost: opts.backingLost });
  }

  /**
   * MMIO: every access calls `ops` (checked against `ops.valid`, adapted to `ops.impl`). At most
   * 2^53 bytes. With `impl.maxAccessSize: 8` the callbacks implement 8-byte accesses
   * ({@link MemoryRegionOps64}).
   */
  static io(name: string, size: bigint, ops: MemoryRegionOps64, opts?: MemoryRegionOptions): MemoryRegion;
  static io(name: string, size: bigint, ops: MemoryRegionOps, opts?: MemoryRegionOptions): MemoryRegion;
  static io(
    name: string,
    size: bigint,
    ops: MemoryRegionOps | MemoryRegionOps64,
    opts: MemoryRegionOptions = {},
  ): MemoryRegion {
    checkName(name);
    checkSize(size, name);
    if (size > MAX_MMIO_SIZE) {
      throw new MemoryError('invalid-size', `MMIO region size ${hex(size)} exceeds 2^53`, {
        regionName: name,
      });
    }
    return new MemoryRegion({ name, kind: 'io', size, owner: opts.owner, ops: resolveMmioOps(ops, name) });
  }

  /** A region whose accesses complete asynchronously; synchronous accesses to it fail with `access-error`. */
  static asyncIo(
    name: string,
    size: bigint,
    ops: AsyncMemoryRegionOps,
    opts: MemoryRegionOptions = {},
  ): MemoryRegion {
    checkName(name);
    checkSize(size, name);
    if (
      typeof ops !== 'object' ||
      ops === null ||
      typeof ops.read !== 'function' ||
      typeof ops.write !== 'function'
    ) {
      throw new MemoryError('invalid-ops', 'AsyncMemoryRegionOps needs read and write functions', {
        regionName: name,
      });
    }
    return new MemoryRegion({ name, kind: 'async-io', size, owner: opts.owner, asyncOps: ops });
  }

  /**
   * A window `[offset, offset + size)` onto `target`, which may be any region but never the alias
   * itself (directly or through containers). An alias cannot have subregions.
   */
  static alias(
    name: string,
    target: MemoryRegion,
    offset: bigint,
    size: bigint,
    opts: MemoryRegionOptions = {},
  ): MemoryRegion {
    checkName(name);
    if (!(target instanceof MemoryRegion)) {
      throw new MemoryError('invalid-argument', 'alias target must be a MemoryRegion', { regionName: name });
    }
    checkAddress(offset, 'alias offset', name);
    checkSize(size, name);
    return new MemoryRegion({
      name,
      kind: 'alias',
      size,
      owner: opts.owner,
      aliasTarget: target,
      aliasOffset: offset,
    });
  }

  /** A region with no content of its own: it shows its subregions; the rest is unassigned. */
  static container(name: string, size: bigint, opts: MemoryRegionOptions = {}): MemoryRegion {
    checkName(name);
    checkSize(size, name);
    return new MemoryRegion({ name, kind: 'container', size, owner: opts.owner });
  }

  /** An IOMMU: each access is translated by `ops.translate` and continues in the target AddressSpace. */
  static iommu(name: string, size: bigint, ops: IommuOps, opts: MemoryRegionOptions = {}): MemoryRegion {
    checkName(name);
    checkSize(size, name);
    if (typeof ops !== 'object' || ops === null || typeof ops.translate !== 'function') {
      throw new MemoryError('invalid-ops', 'IommuOps needs a translate function', { regionName: name });
    }
    return new MemoryRegion({ name, kind: 'iommu', size, owner: opts.owner, iommuOps: ops });
  }

  /** Size in bytes (up to 2^64). */
  get size(): bigint {
    return this.#size;
  }
  /** The container this region is a subregion of. */
  get parent(): MemoryRegion | undefined {
    return this.#parent;
  }
  /** Offset within the parent. */
  get address(): bigint {
    return this.#address;
  }
  /** Priority among the parent's subregions (signed; higher wins). */
  get priority(): number {
    return this.#priority;
  }
  /** Whether the region decodes; a disabled region lets lower-priority siblings show through. */
  get enabled(): boolean {
    return this.#enabled;
  }
  /** Whether writes through an AddressSpace are refused (always true for ROM). */
  get readonly(): boolean {
    return this.#readonly;
  }
  /** Whether the region was added with `addSubregionOverlap`. */
  get mayOverlap(): boolean {
    return this.#mayOverlap;
  }
  /** RAM whose `backingLost` cell was set: its memory is gone and accesses to it fail. */
  get backingLost(): boolean {
    return this._lost !== undefined && this._lost[0] !== 0;
  }
  /** RAM/ROM only: the region's bytes, for zero-copy access. Writes made here bypass dirty logging (call `markDirty`). */
  get ramBuffer(): Uint8Array | undefined {
    return this.#ramBuffer;
  }
  /** Alias only: the region it shows. */
  get aliasTarget(): MemoryRegion | undefined {
    return this.#aliasTarget;
  }
  /** Alias only: where in the target the window starts. */
  get aliasOffset(): bigint {
    return this.#aliasOffset;
  }
  /** Subregions in resolution order (descending priority; among equals, most recently added first). */
  get subregions(): readonly MemoryRegion[] {
    return [...this._subregions];
  }
  /** Whether dirty logging is on. */
  get dirtyLogging(): boolean {
    return this._dirty !== undefined;
  }
  /** @internal RAM/ROM: the bytes of the whole capacity. */
  get _bytes(): Uint8Array | undefined {
    return this.#bytes;
  }
  /** @internal Whether the region fills what its subregions leave uncovered. */
  get _terminates(): boolean {
    return this.kind !== 'container' && this.kind !== 'alias';
  }

  /**
   * Adds `child` at `offset` with priority 0. It must not overlap another sibling that was also
   * added this way (QEMU's "overlap not expected"); use `addSubregionOverlap` for deliberate overlaps.
   */
  addSubregion(offset: bigint, child: MemoryRegion): void {
    this.#add(offset, child, 0, false);
  }

  /** Adds `child` at `offset`; it may overlap siblings, and the higher `priority` (signed integer) wins. */
  addSubregionOverlap(offset: bigint, child: MemoryRegion, priority: number): void {
    if (typeof priority !== 'number' || !Number.isSafeInteger(priority)) {
      throw new MemoryError('invalid-argument', `priority must be an integer, got ${String(priority)}`, {
        regionName: this.name,
      });
    }
    this.#add(offset, child, priority, true);
  }

  #add(offset: bigint, child: MemoryRegion, priority: number, mayOverlap: boolean): void {
    checkAddress(offset, 'subregion offset', this.name);
    if (!(child instanceof MemoryRegion)) {
      throw new MemoryError('invalid-argument', 'subregion must be a MemoryRegion', {
        regionName: this.name,
        address: offset,
      });
    }
    if (this.kind === 'alias') {
      throw new MemoryError('wrong-kind', `alias "${this.name}" cannot have subregions`, {
        regionName: this.name,
        address: offset,
      });
    }
    if (child.#parent !== undefined) {
      throw new MemoryError(
        'already-has-parent',
        `"${child.name}" is already a subregion of "${child.#parent.name}"`,
        { regionName: child.name, address: offset },
      );
    }
    if (child === this || child.#reaches(this)) {
      throw new MemoryError('cycle', `adding "${child.name}" under "${this.name}" would make a cycle`, {
        regionName: child.name,
        address: offset,
      });
    }
    if (!mayOverlap) this.#checkNoOverlap(child, offset, child.#size);
    child.#parent = this;
    child.#address = offset;
    child.#priority = priority;
    child.#mayOverlap = mayOverlap;
    this.#insert(child);
    this.#changed();
  }

  /** Inserts before the first sibling of lower or equal priority, so the newest wins ties. */
  #insert(child: MemoryRegion): void {
    const list = this._subregions;
    let i = 0;
    while (i < list.length && list[i]!.#priority > child.#priority) i++;
    list.splice(i, 0, child);
  }

  #checkNoOverlap(child: MemoryRegion, offset: bigint, size: bigint): void {
    const end = offset + size;
    for (const other of this._subregions) {
      if (other === child || other.#mayOverlap) continue;
      if (offset < other.#address + other.#size && other.#address < end) {
        throw new MemoryError(
          'overlap',
          `"${child.name}" [${hex(offset)}, ${hex(end)}) overlaps "${other.name}" [${hex(other.#address)}, ${hex(
            other.#address + other.#size,
          )}) in "${this.name}"; use addSubregionOverlap with a priority`,
          { regionName: child.name, address: offset },
        );
      }
    }
  }

  /** Whether `target` is reachable from this region through subregions and alias targets. */
  #reaches(target: MemoryRegion): boolean {
    const seen = new Set<MemoryRegion>();
    const stack: MemoryRegion[] = [this];
    while (stack.length > 0) {
      const r = stack.pop()!;
      if (r === target) return true;
      if (seen.has(r)) continue;
      seen.add(r);
      if (r.#aliasTarget !== undefined) stack.push(r.#aliasTarget);
      for (const s of r._subregions) stack.push(s);
    }
    return false;
  }

  /** Removes `child`, which must be a subregion of this region. */
  removeSubregion(child: MemoryRegion): void {
    if (!(child instanceof MemoryRegion) || child.#parent !== this) {
      throw new MemoryError(
        'not-a-subregion',
        `"${child instanceof MemoryRegion ? child.name : String(child)}" is not a subregion of "${this.name}"`,
        { regionName: this.name },
      );
    }
    const i = this._subregions.indexOf(child);
    this._subregions.splice(i, 1);
    child.#parent = undefined;
    this.#changed();
  }

  /** Enables or disables decoding of this region and everything below it. */
  setEnabled(enabled: boolean): void {
    checkBoolean(enabled, 'enabled', this.name);
    if (enabled === this.#enabled) return;
    this.#enabled = enabled;
    this.#changed();
  }

  /** Moves the region within its parent; like QEMU, it then counts as the newest among equal priorities. */
  setAddress(offset: bigint): void {
    checkAddress(offset, 'address', this.name);
    if (offset === this.#address) return;
    const parent = this.#parent;
    if (parent === undefined) {
      this.#address = offset;
      return;
    }
    if (!this.#mayOverlap) parent.#checkNoOverlap(this, offset, this.#size);
    parent._subregions.splice(parent._subregions.indexOf(this), 1);
    this.#address = offset;
    parent.#insert(this);
    this.#changed();
  }

  /** Alias only: moves the window within the target. */
  setAliasOffset(offset: bigint): void {
    this.#requireKind(['alias'], 'setAliasOffset');
    checkAddress(offset, 'alias offset', this.name);
    if (offset === this.#aliasOffset) return;
    this.#aliasOffset = offset;
    this.#changed();
  }

  /**
   * Changes the size. RAM/ROM may change within the capacity fixed at creation (`maxSize` or the
   * backing's length), like QEMU's resizeable RAM; MMIO stays within 2^53; other kinds are free.
   */
  setSize(size: bigint): void {
    checkSize(size, this.name);
    if (size === this.#size) return;
    if (this.#bytes !== undefined && size > BigInt(this.#bytes.byteLength)) {
      throw new MemoryError(
        'invalid-size',
        `size ${hex(size)} exceeds the RAM capacity ${hex(this.#bytes.byteLength)}; create the region with a larger maxSize`,
        { regionName: this.name },
      );
    }
    if (this.kind === 'io' && size > MAX_MMIO_SIZE) {
      throw new MemoryError('invalid-size', `MMIO region size ${hex(size)} exceeds 2^53`, {
        regionName: this.name,
      });
    }
    if (this.#parent !== undefined && !this.#mayOverlap)
      this.#parent.#checkNoOverlap(this, this.#address, size);
    this.#size = size;
    if (this.#bytes !== undefined) {
      this.#ramBuffer = this.#bytes.subarray(0, Number(size));
      this._dirty?.resize(Number(size));
    }
    this.#changed();
  }

  /** Makes writes through an AddressSpace refused (or allowed again). Not for ROM, which stays read-only. */
  setReadonly(readonly: boolean): void {
    checkBoolean(readonly, 'readonly', this.name);
    if (this.kind === 'rom') {
      throw new MemoryError('wrong-kind', 'a ROM region is always read-only', { regionName: this.name });
    }
    if (readonly === this.#readonly) return;
    this.#readonly = readonly;
    this.#changed();
  }

  /**
   * RAM/ROM: turns dirty logging on (a clean bitmap of `pageSize`-byte pages, default 4096) or off
   * (the bitmap is dropped). Turning it on again with another page size starts a new bitmap.
   */
  setDirtyLogging(enabled: boolean, pageSize = 4096): void {
    this.#requireRam('setDirtyLogging');
    checkBoolean(enabled, 'enabled', this.name);
    if (!enabled) {
      this._dirty = undefined;
      return;
    }
    checkPageSize(pageSize, this.name);
    if (this._dirty?.pageSize === pageSize) return;
    this._dirty = new DirtyLog(pageSize, Number(this.#size));
  }

  /** RAM/ROM: marks `[offset, offset + length)` dirty, for writes made directly into `ramBuffer`. No-op while logging is off. */
  markDirty(offset: bigint, length: bigint): void {
    this.#requireRam('markDirty');
    this.#checkRange(offset, length);
    this._dirty?.mark(Number(offset), Number(length));
  }

  /**
   * RAM/ROM, logging on: returns the dirty bits of the pages of `[offset, offset + length)` (bit i,
   * LSB first, is page i of the range; `offset` page-aligned) and clears them.
   */
  getAndClearDirty(offset: bigint, length: bigint): Uint8Array {
    this.#requireRam('getAndClearDirty');
    this.#checkRange(offset, length);
    if (this._dirty === undefined) {
      throw new MemoryError('dirty-logging-off', 'dirty logging is off; call setDirtyLogging(true) first', {
        regionName: this.name,
      });
    }
    return this._dirty.getAndClear(Number(offset), Number(length), this.name);
  }

  /** IOMMU only: calls `fn` on every `iommuNotify` (invalidation) until the returned function is called. */
  addIommuNotifier(fn: (entry: IommuTlbEntry) => void): () => void {
    this.#requireKind(['iommu'], 'addIommuNotifier');
    if (typeof fn !== 'function') {
      throw new MemoryError('invalid-argument', 'IOMMU notifier must be a function', {
        regionName: this.name,
      });
    }
    // A wrapper, so the same function can be registered twice and removed once each.
    const entry = (e: IommuTlbEntry) => fn(e);
    this.#iommuNotifiers.add(entry);
    return () => {
      this.#iommuNotifiers.delete(entry);
    };
  }

  /** IOMMU only: tells every notifier that `entry` changed (typically an unmap). All run even if one throws. */
  iommuNotify(entry: IommuTlbEntry): void {
    this.#requireKind(['iommu'], 'iommuNotify');
    let failed = false;
    let first: unknown;
    for (const fn of [...this.#iommuNotifiers]) {
      try {
        fn(entry);
      } catch (e) {
        if (!failed) first = e;
        failed = true;
      }
    }
    if (failed) {
      throw new MemoryError('listener-failed', 'an IOMMU notifier threw', {
        regionName: this.name,
        cause: first,
      });
    }
  }

  /** @internal Registers an AddressSpace rooted at this region. */
  _addObserver(o: RegionObserver): void {
    this.#observers.add(o);
  }

  /** @internal */
  _removeObserver(o: RegionObserver): void {
    this.#observers.delete(o);
  }

  /** Tells every AddressSpace that can see this region, through parents and aliases. */
  #changed(): void {
    const seen = new Set<MemoryRegion>();
    const stack: MemoryRegion[] = [this];
    while (stack.length > 0) {
      const r = stack.pop()!;
      if (seen.has(r)) continue;
      seen.add(r);
      for (const o of r.#observers) o.regionChanged();
      if (r.#parent !== undefined) stack.push(r.#parent);
      for (const ref of r.#aliasedBy) {
        const alias = ref.deref();
        if (alias === undefined) r.#aliasedBy.delete(ref);
        else stack.push(alias);
      }
    }
  }

  #requireKind(kinds: readonly MemoryRegionKind[], op: string): void {
    if (!kinds.includes(this.kind)) {
      throw new MemoryError(
        'wrong-kind',
        `${op} needs a ${kinds.join('/')} region, "${this.name}" is ${this.kind}`,
        {
          regionName: this.name,
        },
      );
    }
  }

  #requireRam(op: string): void {
    if (this.kind !== 'ram' && this.kind !== 'rom') {
      throw new MemoryError('not-ram', `${op} needs a RAM or ROM region, "${this.name}" is ${this.kind}`, {
        regionName: this.name,
      });
    }
  }

  #checkRange(offset: bigint, length: bigint): void {
    checkAddress(offset, 'offset', this.name);
    if (typeof length !== 'bigint' || length < 0n || length >= ADDRESS_LIMIT) {
      throw new MemoryError('invalid-size', `length must be a bigint in [0, 2^64), got ${String(length)}`, {
        regionName: this.name,
        address: offset,
      });
    }
    if (offset + length > this.#size) {
      throw new MemoryError(
        'out-of-range',
        `range [${hex(offset)}, ${hex(offset + length)}) runs past the region end ${hex(this.#size)}`,
        { regionName: this.name, address: offset },
      );
    }
  }
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new MemoryError('invalid-argument', `region name must be a non-empty string, got ${String(name)}`);
  }
}

function checkBoolean(value: unknown, what: string, regionName: string): void {
  if (typeof value !== 'boolean') {
    throw new MemoryError('invalid-argument', `${what} must be a boolean, got ${String(value)}`, {
      regionName,
    });
  }
}
