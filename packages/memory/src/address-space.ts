import { hex } from '@vfu/errors';
import { ADDRESS_LIMIT, checkAddress, MAX_SAFE } from './address';
import { MemoryError } from './errors';
import {
  diffFlatViews,
  FlatView,
  KIND_ASYNC,
  KIND_IO,
  KIND_IOMMU,
  KIND_RAM,
  renderFlatView,
} from './flat-view';
import type { MemoryContext } from './memory-context';
import { MemoryRegion, type RegionObserver } from './memory-region';
import { memoryAccessSize } from './mmio-dispatch';
import { dumpFlatView } from './mtree';
import type {
  AccessFault,
  AccessFaultReason,
  FlatRange,
  IommuTlbEntry,
  MemoryListener,
  MemoryRegionSection,
  MemTxResult,
  UnassignedAccess,
} from './types';

/** IOMMU hops one access may take before it fails (an IOMMU translating into itself). */
const MAX_IOMMU_DEPTH = 16;
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
    const newView = renderFlatView(this.root);
    this.#flatView = newView;
    this.#renderCount++;
    const { removed, added } = diffFlatViews(oldView, newView);
    const listeners = this.#listeners;
    for (const r of removed) {
      const section = this.#section(r);
      for (let i = listeners.length - 1; i >= 0; i--) call(listeners[i]!, 'regionDel', section, report);
    }
    for (const r of added) {
      const section = this.#section(r);
      for (const l of listeners) call(l, 'regionAdd', section, report);
    }
  }

  /** @internal Calls `begin` or `commit` on every listener, in priority order. */
  _callAll(what: 'begin' | 'commit', report: (e: unknown) => void): void {
    const listeners = this.#listeners;
    // Both in priority order, as QEMU's MEMORY_LISTENER_CALL_GLOBAL(begin/commit, Forward).
    for (const l of listeners) call(l, what, undefined, report);
  }

  #section(r: FlatRange): MemoryRegionSection {
    return {
      region: r.region,
      offsetWithinRegion: r.offsetInRegion,
      offsetWithinAddressSpace: r.start,
      size: r.size,
      readonly: r.readonly,
    };
  }

  /**
   * Registers `listener` and replays the current sections to it (`begin`, `regionAdd` for each,
   * `commit`). Listeners with lower `priority` see additions first and deletions last.
   */
  addListener(listener: MemoryListener): void {
    this.#checkAlive();
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
    const list = [...this.#listeners];
    let i = list.length;
    while (i > 0 && (list[i - 1]!.priority ?? 0) > priority) i--;
    list.splice(i, 0, listener);
    this.#listeners = list;
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
    let failed = false;
    let first: unknown;
    const report = (e: unknown) => {
      if (!failed) first = e;
      failed = true;
    };
    call(listener, 'begin', undefined, report);
    for (const r of this.#flatView.ranges) call(listener, what, this.#section(r), report);
    call(listener, 'commit', undefined, report);
    if (failed) {
      throw new MemoryError('listener-failed', `memory listener threw during ${what} replay`, {
        regionName: this.name,
        cause: first,
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
    let failed = false;
    let first: unknown;
    for (const l of listeners) {
      try {
        this.#replay(l, 'regionDel');
      } catch (e) {
        if (!failed) first = (e as { cause?: unknown }).cause;
        failed = true;
      }
    }
    this.#flatView = EMPTY_VIEW;
    if (failed) {
      throw new MemoryError(
        'listener-failed',
        'memory listener threw while the address space was destroyed',
        {
          regionName: this.name,
          cause: first,
        },
      );
    }
  }

  /** `info mtree -f`-style listing of the current FlatView. */
  dumpFlatView(): string {
    return dumpFlatView(this);
  }

  // ---------------------------------------------------------------- byte accesses

  /**
   * Reads `dest.length` bytes at `address`, across region boundaries (each region's part is done by
   * its own rules; MMIO is cut into naturally aligned pieces as QEMU's `address_space_rw`).
   * Asynchronous regions cannot be read this way (`access-error`); use `readAsync`.
   * Returns the first failure met, after doing every part.
   */
  read(address: bigint, dest: Uint8Array): MemTxResult {
    // Fast path: the whole access inside one RAM range below 2^53.
    if (typeof address === 'bigint' && address >= 0n && address <= MAX_SAFE && dest instanceof Uint8Array) {
      const fv = this.#flatView;
      const a = Number(address);
      const i = fv._findNumber(a);
      const n = dest.length;
      if (i >= 0 && fv._kinds[i] === KIND_RAM && a + n <= fv._ends[i]!) {
        const bytes = fv._bytes[i]!;
        const off = a - fv._starts[i]! + fv._offsets[i]!;
        if (n <= 16) for (let k = 0; k < n; k++) dest[k] = bytes[off + k]!;
        else dest.set(bytes.subarray(off, off + n));
        return 'ok';
      }
    }
    this.#checkAccess(address, dest, 'dest');
    return this.#rw(address, dest, false, 0, false);
  }

  /** Writes `data` at `address`; see `read`. */
  write(address: bigint, data: Uint8Array): MemTxResult {
    if (typeof address === 'bigint' && address >= 0n && address <= MAX_SAFE && data instanceof Uint8Array) {
      const fv = this.#flatView;
      const a = Number(address);
      const i = fv._findNumber(a);
      const n = data.length;
      if (i >= 0 && fv._kinds[i] === KIND_RAM && fv._readonly[i] === 0 && a + n <= fv._ends[i]!) {
        const bytes = fv._bytes[i]!;
        const off = a - fv._starts[i]! + fv._offsets[i]!;
        if (n <= 16) for (let k = 0; k < n; k++) bytes[off + k] = data[k]!;
        else bytes.set(data, off);
        fv._regions[i]!._dirty?.mark(off, n);
        return 'ok';
      }
    }
    this.#checkAccess(address, data, 'data');
    return this.#rw(address, data, true, 0, false);
  }

  /** Like `read`, for every kind of region including asynchronous ones and IOMMU targets. */
  async readAsync(address: bigint, dest: Uint8Array): Promise<MemTxResult> {
    this.#checkAccess(address, dest, 'dest');
    return this.#rw(address, dest, false, 0, true);
  }

  /** Like `write`, for every kind of region including asynchronous ones and IOMMU targets. */
  async writeAsync(address: bigint, data: Uint8Array): Promise<MemTxResult> {
    this.#checkAccess(address, data, 'data');
    return this.#rw(address, data, true, 0, true);
  }

  #checkAlive(): void {
    if (this.#destroyed) {
      throw new MemoryError('destroyed', `address space "${this.name}" was destroyed`, {
        regionName: this.name,
      });
    }
  }

  #checkAccess(address: bigint, buf: Uint8Array, what: string): void {
    this.#checkAlive();
    checkAddress(address, 'address', this.name);
    if (!(buf instanceof Uint8Array)) {
      throw new MemoryError('invalid-argument', `${what} must be a Uint8Array`, {
        regionName: this.name,
        address,
      });
    }
    if (address + BigInt(buf.length) > ADDRESS_LIMIT) {
      throw new MemoryError('out-of-range', `access of ${hex(buf.length)} bytes runs past 2^64`, {
        regionName: this.name,
        address,
      });
    }
  }

  /**
   * The range walk of every access. Synchronous (`async` false): an asynchronous region faults and
   * IOMMU targets are walked synchronously. Asynchronous: the walk runs synchronously up to the first
   * part that must be awaited and resumes after it (`#rwResume`), so RAM and MMIO parts cost no
   * promise. `pos` and `result` carry the progress of a resumed walk.
   */
  #rw(address: bigint, buf: Uint8Array, isWrite: boolean, depth: number, async: false): MemTxResult;
  #rw(
    address: bigint,
    buf: Uint8Array,
    isWrite: boolean,
    depth: number,
    async: true,
    pos?: number,
    result?: MemTxResult,
  ): MemTxResult | Promise<MemTxResult>;
  #rw(
    address: bigint,
    buf: Uint8Array,
    isWrite: boolean,
    depth: number,
    async: boolean,
    pos = 0,
    result: MemTxResult = 'ok',
  ): MemTxResult | Promise<MemTxResult> {
    const len = buf.length;
    while (pos < len) {
      const addr = address + BigInt(pos);
      // Looked up again per part: a callback, or an awaited earlier part, may change the topology.
      const fv = this.#flatView;
      const i = fv._find(addr);
      if (i < 0) {
        const n = Number(min(fv._nextStart(addr) - addr, BigInt(len - pos)));
        if (!isWrite) buf.fill(0, pos, pos + n);
        this.#unassigned(addr, n, isWrite);
        if (result === 'ok') result = 'decode-error';
        pos += n;
        continue;
      }
      const r = fv.ranges[i]!;
      const n = Number(min(r.start + r.size - addr, BigInt(len - pos)));
      const chunk = buf.subarray(pos, pos + n);
      const kind = fv._kinds[i]!;
      pos += n;
      let res: MemTxResult;
      if (kind === KIND_ASYNC) {
        if (async) {
          const part = this.#asyncRegion(r, addr, chunk, isWrite);
          return this.#rwResume(part, address, buf, isWrite, depth, pos, result);
        }
        if (!isWrite) chunk.fill(0);
        res = this.#fault(addr, n, isWrite, r.region, 'async-region', undefined);
      } else if (kind === KIND_IOMMU) {
        if (async) {
          const part = this.#iommu(r, addr, chunk, isWrite, depth, true);
          return this.#rwResume(part, address, buf, isWrite, depth, pos, result);
        }
        res = this.#iommu(r, addr, chunk, isWrite, depth, false);
      } else {
        res = this.#rwLocal(r, kind, addr, chunk, isWrite);
      }
      if (result === 'ok') result = res;
    }
    return result;
  }

  /** Awaits one part of an asynchronous access, then walks on from `pos`. */
  async #rwResume(
    part: Promise<MemTxResult>,
    address: bigint,
    buf: Uint8Array,
    isWrite: boolean,
    depth: number,
    pos: number,
    result: MemTxResult,
  ): Promise<MemTxResult> {
    const res = await part;
    return this.#rw(address, buf, isWrite, depth, true, pos, result === 'ok' ? res : result);
  }

  /** RAM or MMIO part of an access, entirely inside range `r`. */
  #rwLocal(r: FlatRange, kind: number, addr: bigint, chunk: Uint8Array, isWrite: boolean): MemTxResult {
    const n = chunk.length;
    if (isWrite && r.readonly) return this.#fault(addr, n, true, r.region, 'readonly', undefined);
    const offset = Number(r.offsetInRegion + (addr - r.start));
    const region = r.region;
    if (kind === KIND_RAM) {
      const view = region._view!;
      const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, n);
      if (isWrite) {
        bytes.set(chunk);
        region._dirty?.mark(offset, n);
      } else {
        chunk.set(bytes);
      }
      return 'ok';
    }
    // MMIO: naturally aligned pieces no larger than valid.max (QEMU's memory_access_size).
    const ops = region._ops!;
    const d = this.context._dispatcher;
    let result: MemTxResult = 'ok';
    for (let p = 0; p < n; ) {
      const l = memoryAccessSize(ops, n - p, offset + p);
      if (isWrite) d.writeFrom(region, ops, offset + p, l, chunk, p);
      else d.readInto(region, ops, offset + p, l, chunk, p);
      if (d.result !== 'ok') {
        const res = this.#fault(addr + BigInt(p), l, isWrite, region, d.faultReason!, d.faultCause);
        if (result === 'ok') result = res;
      }
      p += l;
    }
    return result;
  }

  async #asyncRegion(r: FlatRange, addr: bigint, chunk: Uint8Array, isWrite: boolean): Promise<MemTxResult> {
    if (isWrite && r.readonly) return this.#fault(addr, chunk.length, true, r.region, 'readonly', undefined);
    const offset = r.offsetInRegion + (addr - r.start);
    const ops = r.region._asyncOps!;
    try {
      if (isWrite) await ops.write(offset, chunk);
      else await ops.read(offset, chunk);
      return 'ok';
    } catch (e) {
      if (!isWrite) chunk.fill(0);
      return this.#fault(addr, chunk.length, isWrite, r.region, 'callback-failed', e);
    }
  }

  /** IOMMU part: translate page by page and continue in the target address space. */
  #iommu(
    r: FlatRange,
    addr: bigint,
    chunk: Uint8Array,
    isWrite: boolean,
    depth: number,
    async: false,
  ): MemTxResult;
  #iommu(
    r: FlatRange,
    addr: bigint,
    chunk: Uint8Array,
    isWrite: boolean,
    depth: number,
    async: true,
  ): Promise<MemTxResult>;
  #iommu(
    r: FlatRange,
    addr: bigint,
    chunk: Uint8Array,
    isWrite: boolean,
    depth: number,
    async: boolean,
  ): MemTxResult | Promise<MemTxResult> {
    const steps: { entry: IommuTlbEntry; target: bigint; from: number; to: number }[] = [];
    let result: MemTxResult = 'ok';
    const n = chunk.length;
    const fail = (p: number, m: number, reason: AccessFaultReason, cause: unknown) => {
      if (!isWrite) chunk.fill(0, p, p + m);
      const res = this.#fault(addr + BigInt(p), m, isWrite, r.region, reason, cause);
      if (result === 'ok') result = res;
    };
    if (isWrite && r.readonly) {
      const res = this.#fault(addr, n, true, r.region, 'readonly', undefined);
      return async ? Promise.resolve(res) : res;
    }
    if (depth >= MAX_IOMMU_DEPTH) {
      fail(0, n, 'iommu-depth', undefined);
      return async ? Promise.resolve(result) : result;
    }
    const ops = r.region._iommuOps!;
    for (let p = 0; p < n; ) {
      const iova = r.offsetInRegion + (addr + BigInt(p) - r.start);
      let entry: IommuTlbEntry;
      try {
        entry = ops.translate(iova, isWrite ? 'write' : 'read');
        checkTlbEntry(entry, r.region.name, iova);
      } catch (e) {
        // Without a valid translation, nothing in this access can proceed.
        fail(p, n - p, 'iommu-translate-failed', e);
        break;
      }
      const mask = entry.addressMask;
      const inPage = iova & mask;
      const m = Number(min(mask - inPage + 1n, BigInt(n - p)));
      if (!(isWrite ? entry.perm.write : entry.perm.read)) {
        fail(p, m, 'iommu-permission', undefined);
      } else {
        steps.push({ entry, target: (entry.translatedAddress & ~mask) | inPage, from: p, to: p + m });
      }
      p += m;
    }
    if (!async) {
      for (const s of steps) {
        const res = s.entry.target.#continue(
          s.target,
          chunk.subarray(s.from, s.to),
          isWrite,
          depth + 1,
          false,
        );
        if (result === 'ok') result = res;
      }
      return result;
    }
    return (async () => {
      for (const s of steps) {
        const res = await s.entry.target.#continue(
          s.target,
          chunk.subarray(s.from, s.to),
          isWrite,
          depth + 1,
          true,
        );
        if (result === 'ok') result = res;
      }
      return result;
    })();
  }

  /** Where an IOMMU sends a translated part: this space, which may have been destroyed since. */
  #continue(address: bigint, buf: Uint8Array, isWrite: boolean, depth: number, async: false): MemTxResult;
  #continue(
    address: bigint,
    buf: Uint8Array,
    isWrite: boolean,
    depth: number,
    async: true,
  ): MemTxResult | Promise<MemTxResult>;
  #continue(
    address: bigint,
    buf: Uint8Array,
    isWrite: boolean,
    depth: number,
    async: boolean,
  ): MemTxResult | Promise<MemTxResult> {
    if (this.#destroyed || address + BigInt(buf.length) > ADDRESS_LIMIT) {
      if (!isWrite) buf.fill(0);
      this.#unassigned(address, buf.length, isWrite);
      return 'decode-error';
    }
    return async
      ? this.#rw(address, buf, isWrite, depth, true)
      : this.#rw(address, buf, isWrite, depth, false);
  }

  #unassigned(address: bigint, size: number, isWrite: boolean): void {
    if (this.#unassignedHooks.size === 0) return;
    const e: UnassignedAccess = { address, size, isWrite };
    for (const h of this.#unassignedHooks) h(e);
  }

  #fault(
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

  // ---------------------------------------------------------------- typed accesses

  /**
   * Typed little-endian accesses. Each is one access of its size, as QEMU's `address_space_ld*_le`:
   * an MMIO region sees one validated access (split or widened for its callbacks) even when
   * unaligned; an access spanning several ranges falls back to `read`/`write`. Unassigned or
   * refused reads return 0; failures go to the hooks. RAM and MMIO below 2^53 take a fast path.
   */
  readU8(address: bigint): number {
    return this.#readSmall(address, 1);
  }
  /** See `readU8`. */
  readU16(address: bigint): number {
    return this.#readSmall(address, 2);
  }
  /** See `readU8`. */
  readU32(address: bigint): number {
    return this.#readSmall(address, 4);
  }
  /** See `readU8`. */
  readU64(address: bigint): bigint {
    if (typeof address === 'bigint' && address >= 0n && address <= MAX_SAFE) {
      const fv = this.#flatView;
      const a = Number(address);
      const i = fv._findNumber(a);
      if (i >= 0 && a + 8 <= fv._ends[i]!) {
        const kind = fv._kinds[i]!;
        const off = a - fv._starts[i]! + fv._offsets[i]!;
        if (kind === KIND_RAM) return fv._views[i]!.getBigUint64(off, true);
        if (kind === KIND_IO) {
          const region = fv._regions[i]!;
          const v = this.context._dispatcher.read64(region, region._ops!, off);
          return this.#mmioDone(region, address, 8, false) ? v : 0n;
        }
      }
    }
    const buf = this.#readSlow(address, 8);
    return new DataView(buf.buffer).getBigUint64(0, true);
  }

  #readSmall(address: bigint, size: 1 | 2 | 4): number {
    if (typeof address === 'bigint' && address >= 0n && address <= MAX_SAFE) {
      const fv = this.#flatView;
      const a = Number(address);
      const i = fv._findNumber(a);
      if (i >= 0 && a + size <= fv._ends[i]!) {
        const kind = fv._kinds[i]!;
        const off = a - fv._starts[i]! + fv._offsets[i]!;
        if (kind === KIND_RAM) {
          const v = fv._views[i]!;
          return size === 4 ? v.getUint32(off, true) : size === 2 ? v.getUint16(off, true) : v.getUint8(off);
        }
        if (kind === KIND_IO) {
          const region = fv._regions[i]!;
          const v = this.context._dispatcher.read(region, region._ops!, off, size);
          return this.#mmioDone(region, address, size, false) ? v : 0;
        }
      }
    }
    const b = this.#readSlow(address, size);
    return size === 4
      ? (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0
      : size === 2
        ? b[0]! | (b[1]! << 8)
        : b[0]!;
  }

  /** Reports the outcome of the MMIO access just made; true if it succeeded. */
  #mmioDone(region: MemoryRegion, address: bigint, size: number, isWrite: boolean): boolean {
    const d = this.context._dispatcher;
    if (d.result === 'ok') return true;
    this.#fault(address, size, isWrite, region, d.faultReason!, d.faultCause);
    return false;
  }

  /** Slow path: checks, then one MMIO access if the range is MMIO, else `read`. */
  #readSlow(address: bigint, size: 1 | 2 | 4 | 8): Uint8Array {
    const buf = new Uint8Array(size);
    this.#checkAccess(address, buf, 'dest');
    const fv = this.#flatView;
    const i = fv._find(address);
    const r = fv.ranges[i];
    if (r !== undefined && fv._kinds[i] === KIND_IO && address + BigInt(size) <= r.start + r.size) {
      const off = Number(r.offsetInRegion + (address - r.start));
      this.context._dispatcher.readInto(r.region, r.region._ops!, off, size, buf, 0);
      if (!this.#mmioDone(r.region, address, size, false)) buf.fill(0);
      return buf;
    }
    if (r !== undefined && fv._kinds[i] === KIND_RAM && address + BigInt(size) <= r.start + r.size) {
      const off = Number(r.offsetInRegion + (address - r.start));
      buf.set(fv._bytes[i]!.subarray(off, off + size));
      return buf;
    }
    this.#rw(address, buf, false, 0, false);
    return buf;
  }

  /** Typed little-endian write; see `readU8`. `value` must fit in 8 bits (negative values as two's complement). */
  writeU8(address: bigint, value: number): void {
    this.#writeSmall(address, checkValue(value, 1, this.name, address), 1);
  }
  /** See `writeU8`; 16 bits. */
  writeU16(address: bigint, value: number): void {
    this.#writeSmall(address, checkValue(value, 2, this.name, address), 2);
  }
  /** See `writeU8`; 32 bits. */
  writeU32(address: bigint, value: number): void {
    this.#writeSmall(address, checkValue(value, 4, this.name, address), 4);
  }
  /** See `writeU8`; 64 bits, `value` in [-2^63, 2^64). */
  writeU64(address: bigint, value: bigint): void {
    if (typeof value !== 'bigint' || value < -(1n << 63n) || value >= 1n << 64n) {
      throw new MemoryError('invalid-argument', `value ${String(value)} does not fit in 64 bits`, {
        regionName: this.name,
        ...(typeof address === 'bigint' ? { address } : {}),
      });
    }
    const v = BigInt.asUintN(64, value);
    if (typeof address === 'bigint' && address >= 0n && address <= MAX_SAFE) {
      const fv = this.#flatView;
      const a = Number(address);
      const i = fv._findNumber(a);
      if (i >= 0 && a + 8 <= fv._ends[i]! && fv._readonly[i] === 0) {
        const kind = fv._kinds[i]!;
        const off = a - fv._starts[i]! + fv._offsets[i]!;
        if (kind === KIND_RAM) {
          fv._views[i]!.setBigUint64(off, v, true);
          fv._regions[i]!._dirty?.mark(off, 8);
          return;
        }
        if (kind === KIND_IO) {
          const region = fv._regions[i]!;
          this.context._dispatcher.write64(region, region._ops!, off, v);
          this.#mmioDone(region, address, 8, true);
          return;
        }
      }
    }
    const buf = new Uint8Array(8);
    new DataView(buf.buffer).setBigUint64(0, v, true);
    this.#writeSlow(address, buf);
  }

  #writeSmall(address: bigint, value: number, size: 1 | 2 | 4): void {
    if (typeof address === 'bigint' && address >= 0n && address <= MAX_SAFE) {
      const fv = this.#flatView;
      const a = Number(address);
      const i = fv._findNumber(a);
      if (i >= 0 && a + size <= fv._ends[i]! && fv._readonly[i] === 0) {
        const kind = fv._kinds[i]!;
        const off = a - fv._starts[i]! + fv._offsets[i]!;
        if (kind === KIND_RAM) {
          const v = fv._views[i]!;
          if (size === 4) v.setUint32(off, value, true);
          else if (size === 2) v.setUint16(off, value, true);
          else v.setUint8(off, value);
          fv._regions[i]!._dirty?.mark(off, size);
          return;
        }
        if (kind === KIND_IO) {
          const region = fv._regions[i]!;
          this.context._dispatcher.write(region, region._ops!, off, size, value);
          this.#mmioDone(region, address, size, true);
          return;
        }
      }
    }
    const buf = new Uint8Array(size);
    for (let k = 0; k < size; k++) buf[k] = (value >>> (8 * k)) & 0xff;
    this.#writeSlow(address, buf);
  }

  #writeSlow(address: bigint, buf: Uint8Array): void {
    const size = buf.length as 1 | 2 | 4 | 8;
    this.#checkAccess(address, buf, 'data');
    const fv = this.#flatView;
    const i = fv._find(address);
    const r = fv.ranges[i];
    if (
      r !== undefined &&
      fv._kinds[i] === KIND_IO &&
      !r.readonly &&
      address + BigInt(size) <= r.start + r.size
    ) {
      const off = Number(r.offsetInRegion + (address - r.start));
      this.context._dispatcher.writeFrom(r.region, r.region._ops!, off, size, buf, 0);
      this.#mmioDone(r.region, address, size, true);
      return;
    }
    this.#rw(address, buf, true, 0, false);
  }

  /**
   * Direct access for RAM: the bytes of the RAM range at `address`, up to `length` (fewer if the
   * range ends first), or `undefined` if `address` is not RAM/ROM (or, with `forWrite`, is
   * read-only). The view stays valid while the region keeps its backing; it does not follow later
   * topology changes. With `forWrite`, the pages are marked dirty now; plain writes into a view
   * obtained without it bypass dirty logging (call `markDirty`).
   */
  translateRam(address: bigint, length: number, forWrite = false): Uint8Array | undefined {
    this.#checkAlive();
    checkAddress(address, 'address', this.name);
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
      throw new MemoryError(
        'invalid-argument',
        `length must be a non-negative integer, got ${String(length)}`,
        {
          regionName: this.name,
          address,
        },
      );
    }
    const fv = this.#flatView;
    const i = fv._find(address);
    const r = fv.ranges[i];
    if (r === undefined || fv._kinds[i] !== KIND_RAM || (forWrite && r.readonly)) return undefined;
    const off = Number(r.offsetInRegion + (address - r.start));
    const n = Number(min(BigInt(length), r.start + r.size - address));
    const view = r.region._view!;
    if (forWrite) r.region._dirty?.mark(off, n);
    return new Uint8Array(view.buffer, view.byteOffset + off, n);
  }

  /** The sections currently visible, as listeners see them. */
  sections(): MemoryRegionSection[] {
    return this.#flatView.ranges.map((r) => this.#section(r));
  }
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function call(
  listener: MemoryListener,
  what: 'begin' | 'commit' | 'regionAdd' | 'regionDel',
  section: MemoryRegionSection | undefined,
  report: (e: unknown) => void,
): void {
  try {
    if (what === 'begin') listener.begin?.();
    else if (what === 'commit') listener.commit?.();
    else if (what === 'regionAdd') listener.regionAdd?.(section!);
    else listener.regionDel?.(section!);
  } catch (e) {
    report(e);
  }
}

function checkValue(value: number, size: 1 | 2 | 4, name: string, address: unknown): number {
  const bits = 8 * size;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < -(2 ** (bits - 1)) ||
    value >= 2 ** bits
  ) {
    throw new MemoryError('invalid-argument', `value ${String(value)} does not fit in ${bits} bits`, {
      regionName: name,
      ...(typeof address === 'bigint' ? { address } : {}),
    });
  }
  return size === 4 ? value >>> 0 : value & (size === 2 ? 0xffff : 0xff);
}

function checkTlbEntry(entry: IommuTlbEntry, regionName: string, iova: bigint): void {
  const bad = (why: string) =>
    new MemoryError('invalid-argument', `IOMMU translate returned ${why}`, { regionName, address: iova });
  if (typeof entry !== 'object' || entry === null) throw bad('no entry');
  if (!(entry.target instanceof AddressSpace)) throw bad('a target that is not an AddressSpace');
  const mask = entry.addressMask;
  if (typeof mask !== 'bigint' || mask < 0n || mask >= ADDRESS_LIMIT || (mask & (mask + 1n)) !== 0n) {
    throw bad(`an address mask that is not 2^k - 1: ${String(mask)}`);
  }
  const t = entry.translatedAddress;
  if (typeof t !== 'bigint' || t < 0n || t >= ADDRESS_LIMIT)
    throw bad(`an address outside [0, 2^64): ${String(t)}`);
  if (typeof entry.perm !== 'object' || entry.perm === null) throw bad('no permissions');
}
