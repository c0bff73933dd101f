import { ADDRESS_LIMIT, MAX_SAFE } from './address';
import type { MemoryRegion } from './memory-region';
import type { FlatRange } from './types';

/** @internal Range kinds for the access fast path. */
export const KIND_RAM = 0;
/** @internal */
export const KIND_IO = 1;
/** @internal */
export const KIND_ASYNC = 2;
/** @internal */
export const KIND_IOMMU = 3;

/**
 * An AddressSpace's memory graph rendered into sorted, non-overlapping ranges (QEMU's `FlatView`).
 * Immutable: each commit that changes the topology makes a new one. `lookup` is a binary search.
 *
 * Besides the bigint `ranges`, the view keeps the range bounds as float64 numbers: for an address
 * below 2^53 the search runs on numbers, which are exact there, and bounds at or above 2^53 still
 * compare correctly against it because rounding never moves them below 2^53.
 */
export class FlatView {
  /** The ranges in increasing address order. */
  readonly ranges: readonly FlatRange[];
  /** @internal Range starts as numbers (exact below 2^53). */
  readonly _starts: Float64Array;
  /** @internal Range ends as numbers. */
  readonly _ends: Float64Array;
  /** @internal Offsets in region as numbers (exact for RAM and MMIO). */
  readonly _offsets: Float64Array;
  /** @internal KIND_* per range. */
  readonly _kinds: Uint8Array;
  /** @internal 1 where writes are refused. */
  readonly _readonly: Uint8Array;
  /** @internal RAM ranges: the region's DataView. */
  readonly _views: (DataView | undefined)[];
  /** @internal RAM ranges: the region's bytes (whole capacity). */
  readonly _bytes: (Uint8Array | undefined)[];
  /** @internal `backingLost` cell of each RAM range, if any. */
  readonly _lost: (Int32Array | undefined)[];
  /** @internal */
  readonly _regions: MemoryRegion[];

  /** A view of `ranges`, which must be sorted by address and disjoint (AddressSpaces build their own). */
  constructor(ranges: readonly FlatRange[]) {
    this.ranges = Object.freeze([...ranges]);
    const n = ranges.length;
    this._starts = new Float64Array(n);
    this._ends = new Float64Array(n);
    this._offsets = new Float64Array(n);
    this._kinds = new Uint8Array(n);
    this._readonly = new Uint8Array(n);
    this._views = new Array(n);
    this._bytes = new Array(n);
    this._lost = new Array(n);
    this._regions = new Array(n);
    for (let i = 0; i < n; i++) {
      const r = ranges[i]!;
      this._starts[i] = Number(r.start);
      this._ends[i] = Number(r.start + r.size);
      this._offsets[i] = Number(r.offsetInRegion);
      const kind = r.region.kind;
      this._kinds[i] =
        kind === 'ram' || kind === 'rom'
          ? KIND_RAM
          : kind === 'io'
            ? KIND_IO
            : kind === 'async-io'
              ? KIND_ASYNC
              : KIND_IOMMU;
      this._readonly[i] = r.readonly ? 1 : 0;
      this._views[i] = r.region._view;
      this._bytes[i] = r.region._bytes;
      this._lost[i] = r.region._lost;
      this._regions[i] = r.region;
    }
  }

  /** The range containing `address`, if any. */
  lookup(address: bigint): FlatRange | undefined {
    const i = this._find(address);
    return i < 0 ? undefined : this.ranges[i];
  }

  /** @internal Index of the range containing `address`, or -1. */
  _find(address: bigint): number {
    if (address >= 0n && address <= MAX_SAFE) return this._findNumber(Number(address));
    return this._findBigint(address);
  }

  /** @internal Index of the range containing `a` (an exact integer below 2^53), or -1. */
  _findNumber(a: number): number {
    const starts = this._starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= a) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && a < this._ends[hi]! ? hi : -1;
  }

  /**
   * @internal The fast-path lookup of every access: the index of the range holding all of
   * `[a, a + size)`, writable when `forWrite`, or -1 (then the caller takes its checked path).
   * `a` comes from `fastAddress`: a number address below 2^53, or -1.
   */
  _fastIndex(a: number, size: number, forWrite: boolean): number {
    if (a < 0) return -1;
    const i = this._findNumber(a);
    if (i < 0 || a + size > this._ends[i]! || (forWrite && this._readonly[i] !== 0)) return -1;
    return i;
  }

  /** @internal Offset in its region of number address `a`, which lies in range `i`. */
  _regionOffset(i: number, a: number): number {
    return a - this._starts[i]! + this._offsets[i]!;
  }

  /** @internal The same search on bigints, for any address. */
  _findBigint(address: bigint): number {
    const ranges = this.ranges;
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (ranges[mid]!.start <= address) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0) return -1;
    const r = ranges[hi]!;
    return address < r.start + r.size ? hi : -1;
  }

  /** @internal Start of the first range above `address`, or 2^64. */
  _nextStart(address: bigint): bigint {
    const ranges = this.ranges;
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ranges[mid]!.start <= address) lo = mid + 1;
      else hi = mid;
    }
    return lo < ranges.length ? ranges[lo]!.start : ADDRESS_LIMIT;
  }
}

interface Piece {
  start: bigint;
  end: bigint;
  region: MemoryRegion;
  offset: bigint;
  readonly: boolean;
}

/**
 * Renders the graph under `root` into flat ranges, as QEMU's `render_memory_region` +
 * `flatview_simplify`: subregions in priority order, each only filling what higher-priority
 * siblings left; aliases shift into their target; a region with content of its own fills the gaps
 * its subregions leave; read-only is inherited along the path. The root sits at address 0
 * whatever its own offset in a parent.
 */
export function renderFlatView(root: MemoryRegion): FlatView {
  const out: Piece[] = [];
  render(out, root, -root.address, 0n, ADDRESS_LIMIT, false);
  const merged: FlatRange[] = [];
  let prev: Piece | undefined;
  for (const p of out) {
    if (
      prev !== undefined &&
      prev.region === p.region &&
      prev.end === p.start &&
      prev.offset + (prev.end - prev.start) === p.offset &&
      prev.readonly === p.readonly
    ) {
      prev.end = p.end;
      continue;
    }
    if (prev !== undefined) merged.push(toRange(prev));
    prev = { ...p };
  }
  if (prev !== undefined) merged.push(toRange(prev));
  return new FlatView(merged);
}

function toRange(p: Piece): FlatRange {
  return Object.freeze({
    start: p.start,
    size: p.end - p.start,
    region: p.region,
    offsetInRegion: p.offset,
    readonly: p.readonly,
  });
}

function render(
  out: Piece[],
  mr: MemoryRegion,
  base: bigint,
  clipStart: bigint,
  clipEnd: bigint,
  readonly: boolean,
): void {
  if (!mr.enabled) return;
  const b = base + mr.address;
  const ro = readonly || mr.readonly;
  const start = b > clipStart ? b : clipStart;
  const regionEnd = b + mr.size;
  const end = regionEnd < clipEnd ? regionEnd : clipEnd;
  if (start >= end) return;
  const target = mr.aliasTarget;
  if (target !== undefined) {
    // The alias cancels the target's own offset; only the alias offset counts.
    render(out, target, b - target.address - mr.aliasOffset, start, end, ro);
    return;
  }
  for (const sub of mr._subregions) render(out, sub, b, start, end, ro);
  if (!mr._terminates) return;
  fillGaps(out, mr, b, start, end, ro);
}

/** Inserts pieces of `mr` into every gap of `out` within `[start, end)`. */
function fillGaps(
  out: Piece[],
  mr: MemoryRegion,
  base: bigint,
  start: bigint,
  end: bigint,
  ro: boolean,
): void {
  // First piece ending after `start`.
  let lo = 0;
  let hi = out.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (out[mid]!.end <= start) lo = mid + 1;
    else hi = mid;
  }
  let i = lo;
  let pos = start;
  while (pos < end) {
    const next = out[i];
    if (next !== undefined && next.start <= pos) {
      pos = next.end;
      i++;
      continue;
    }
    const gapEnd = next === undefined || next.start > end ? end : next.start;
    out.splice(i, 0, { start: pos, end: gapEnd, region: mr, offset: pos - base, readonly: ro });
    i++;
    pos = gapEnd;
  }
}

/** Whether two ranges are the same section (QEMU's `flatrange_equal`). */
export function sameRange(a: FlatRange, b: FlatRange): boolean {
  return (
    a.start === b.start &&
    a.size === b.size &&
    a.region === b.region &&
    a.offsetInRegion === b.offsetInRegion &&
    a.readonly === b.readonly
  );
}

/**
 * Walks old and new views in address order, as QEMU's `address_space_update_topology_pass`:
 * `removed` are old ranges gone or changed, `added` are new ranges not present before.
 */
export function diffFlatViews(
  oldView: FlatView,
  newView: FlatView,
): { removed: FlatRange[]; added: FlatRange[] } {
  const removed: FlatRange[] = [];
  const added: FlatRange[] = [];
  const a = oldView.ranges;
  const b = newView.ranges;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const o = a[i];
    const n = b[j];
    if (
      o !== undefined &&
      (n === undefined || o.start < n.start || (o.start === n.start && !sameRange(o, n)))
    ) {
      removed.push(o);
      i++;
    } else if (o !== undefined && n !== undefined && sameRange(o, n)) {
      i++;
      j++;
    } else if (n !== undefined) {
      added.push(n);
      j++;
    }
  }
  return { removed, added };
}
