/**
 * Coverage feedback from V8's precise block coverage, read in-process through `node:inspector`.
 * Each take returns what ran since the previous take (V8 resets its counters), as features: a
 * block of code in scope, once per hit-count bucket (1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+), as
 * libFuzzer counts edges. Code out of scope (the fuzzer itself, node internals, dependencies) is
 * dropped, so the fuzzer's own work between takes adds nothing.
 */
import { Session } from 'node:inspector';

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  functionName: string;
  ranges: CoverageRange[];
}
interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: FunctionCoverage[];
}

/** Which script URLs count. */
export type CoverageScope = (url: string) => boolean;

/**
 * Sources whose URL contains one of `parts` (`/packages/protocol/src/`), never dependencies nor
 * test files: the fuzzer's own code and its harness add nothing to the feedback.
 */
export function scopeOf(parts: readonly string[]): CoverageScope {
  return (url) =>
    !url.includes('/node_modules/') && !url.includes('.test.') && parts.some((p) => url.includes(p));
}

/** Totals of what was ever covered in scope. */
export interface CoverageSummary {
  /** Distinct blocks (function bodies included) that ran at least once. */
  blocks: number;
  /** Distinct functions that ran at least once. */
  functions: number;
  /** Scripts in scope that ran, by URL, with their covered blocks. */
  scripts: Map<string, number>;
}

/**
 * One inspector session collecting block coverage for this process. Start it before the code to
 * be measured is loaded: V8 only instruments functions compiled after coverage starts.
 */
export class CoverageTracker {
  readonly #session = new Session();
  /** Block key (function, start, end) -> dense id. */
  readonly #blockIds = new Map<string, number>();
  /** The blocks of each function seen so far. */
  readonly #functionBlocks = new Map<string, { start: number; end: number; id: number }[]>();
  /** Dense block id -> whether it is a function's own range. */
  readonly #isFunction: boolean[] = [];
  readonly #blockScript: string[] = [];
  #scope: CoverageScope = () => false;
  /** Coverage takes so far (each costs a walk of every script V8 holds). */
  takes = 0;
  /** Milliseconds spent in takes so far. */
  takeMs = 0;
  #started = false;

  start(): void {
    if (this.#started) return;
    this.#session.connect();
    this.#post('Profiler.enable');
    this.#post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    this.#started = true;
  }

  stop(): void {
    if (!this.#started) return;
    this.#post('Profiler.stopPreciseCoverage');
    this.#post('Profiler.disable');
    this.#session.disconnect();
    this.#started = false;
  }

  /** Which scripts count from now on. */
  setScope(scope: CoverageScope): void {
    this.#scope = scope;
  }

  /** Forgets what ran since the last take (e.g. the fuzzer's own work). */
  discard(): void {
    this.#post('Profiler.takePreciseCoverage');
  }

  /**
   * Features of what ran since the last take, into `out` (cleared first). With `blocksOnly`, one
   * feature per block whatever its count (for batches, whose counts are sums).
   *
   * V8 reports, per function that ran, its own range and the nested ranges whose count differs
   * from the range around them (a block run as often as its parent is left out; a block not run
   * is reported with count 0). So a block's count is that of the innermost reported range
   * holding it, and every range ever reported is remembered as a block of its function.
   */
  take(out: Set<number>, blocksOnly = false): void {
    out.clear();
    this.takes++;
    const started = performance.now();
    const { result } = this.#post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] };
    this.takeMs += performance.now() - started;
    for (const script of result) {
      if (!this.#scope(script.url)) continue;
      for (const fn of script.functions) {
        const ranges = fn.ranges;
        const own = ranges[0];
        if (own === undefined || own.count === 0) continue;
        const fnKey = `${script.scriptId}:${own.startOffset}:${own.endOffset}`;
        let blocks = this.#functionBlocks.get(fnKey);
        if (blocks === undefined) {
          blocks = [];
          this.#functionBlocks.set(fnKey, blocks);
        }
        for (let i = 0; i < ranges.length; i++) {
          const r = ranges[i] as CoverageRange;
          const key = `${fnKey}:${r.startOffset}:${r.endOffset}`;
          if (this.#blockIds.has(key)) continue;
          const id = this.#blockIds.size;
          this.#blockIds.set(key, id);
          this.#isFunction[id] = i === 0;
          this.#blockScript[id] = script.url;
          blocks.push({ start: r.startOffset, end: r.endOffset, id });
        }
        for (const b of blocks) {
          // The innermost reported range holding the block gives its count.
          let count = own.count;
          let width = Number.POSITIVE_INFINITY;
          for (let i = 0; i < ranges.length; i++) {
            const r = ranges[i] as CoverageRange;
            if (r.startOffset <= b.start && b.end <= r.endOffset && r.endOffset - r.startOffset < width) {
              width = r.endOffset - r.startOffset;
              count = r.count;
            }
          }
          if (count > 0) out.add(blocksOnly ? b.id * 8 : b.id * 8 + bucket(count));
        }
      }
    }
  }

  /** What the features in `seen` cover, as blocks, functions and per-script block counts. */
  summarize(seen: ReadonlySet<number>): CoverageSummary {
    const blocks = new Set<number>();
    for (const f of seen) blocks.add(f >>> 3);
    let functions = 0;
    const scripts = new Map<string, number>();
    for (const id of blocks) {
      if (this.#isFunction[id] === true) functions++;
      const url = this.#blockScript[id] ?? '?';
      scripts.set(url, (scripts.get(url) ?? 0) + 1);
    }
    return { blocks: blocks.size, functions, scripts };
  }

  #post(method: string, params: object = {}): unknown {
    // An in-process session answers synchronously: the callback runs before post() returns.
    let error: Error | null = null;
    let result: unknown;
    this.#session.post(method, params, (e, r) => {
      error = e;
      result = r;
    });
    if (error !== null) throw error;
    return result;
  }
}

/** libFuzzer's hit-count buckets. */
function bucket(count: number): number {
  if (count < 4) return count - 1; // 1 -> 0, 2 -> 1, 3 -> 2
  if (count < 8) return 3;
  if (count < 16) return 4;
  if (count < 32) return 5;
  if (count < 128) return 6;
  return 7;
}
