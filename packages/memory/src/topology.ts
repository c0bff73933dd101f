import type { FlatView } from './flat-view';
import { diffFlatViews } from './flat-view';
import type { FlatRange, MemoryListener, MemoryRegionSection } from './types';

/** The listener callbacks, as QEMU's `MEMORY_LISTENER_CALL` names them. */
type ListenerCallback = 'begin' | 'commit' | 'regionAdd' | 'regionDel';

/**
 * Collects the errors thrown by listeners and notifiers so that every one of them still runs;
 * the first error becomes the `cause` of the `listener-failed` error thrown at the end.
 */
export class ErrorCollector {
  failed = false;
  first: unknown;
  readonly report = (e: unknown): void => {
    if (!this.failed) this.first = e;
    this.failed = true;
  };
}

/** A flat range as listeners see it (QEMU's `section_from_flat_range`). */
export function sectionOf(r: FlatRange): MemoryRegionSection {
  return {
    region: r.region,
    offsetWithinRegion: r.offsetInRegion,
    offsetWithinAddressSpace: r.start,
    size: r.size,
    readonly: r.readonly,
  };
}

/** A copy of `listeners` with `listener` inserted after every listener of lower or equal priority. */
export function insertByPriority(
  listeners: readonly MemoryListener[],
  listener: MemoryListener,
): MemoryListener[] {
  const priority = listener.priority ?? 0;
  const list = [...listeners];
  let i = list.length;
  while (i > 0 && (list[i - 1]!.priority ?? 0) > priority) i--;
  list.splice(i, 0, listener);
  return list;
}

/**
 * Feeds the difference between two renderings to `listeners` (sorted by priority): every
 * `regionDel` first, listeners in reverse order, then every `regionAdd`, in order.
 */
export function notifyDiff(
  listeners: readonly MemoryListener[],
  oldView: FlatView,
  newView: FlatView,
  report: (e: unknown) => void,
): void {
  const { removed, added } = diffFlatViews(oldView, newView);
  for (const r of removed) {
    const section = sectionOf(r);
    for (let i = listeners.length - 1; i >= 0; i--) callListener(listeners[i]!, 'regionDel', section, report);
  }
  for (const r of added) {
    const section = sectionOf(r);
    for (const l of listeners) callListener(l, 'regionAdd', section, report);
  }
}

/** Replays every range of `view` to one listener as `what`, between `begin` and `commit`. */
export function replay(
  listener: MemoryListener,
  view: FlatView,
  what: 'regionAdd' | 'regionDel',
  report: (e: unknown) => void,
): void {
  callListener(listener, 'begin', undefined, report);
  for (const r of view.ranges) callListener(listener, what, sectionOf(r), report);
  callListener(listener, 'commit', undefined, report);
}

/** Calls one listener callback, if the listener has it; a throw goes to `report`. */
export function callListener(
  listener: MemoryListener,
  what: ListenerCallback,
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
