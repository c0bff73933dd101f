/**
 * The coverage-guided loop: run seeds, then mutate corpus inputs and keep each mutant that reaches
 * a feature (block, or block at a new hit-count bucket) no earlier input reached. Stateless targets
 * run in batches with one coverage take per batch, doubling the batch while nothing new turns up
 * and replaying a batch input by input when it does, which keeps the inspector's cost per take
 * (most of the time of a small run) off the common path.
 */
import type { CoverageTracker } from './coverage';
import { scopeOf } from './coverage';
import { type MutationContext, mutateBytes } from './mutate';
import { Rng } from './rng';
import type { FuzzTarget } from './target';

/** Options of {@link fuzz}. */
export interface FuzzOptions {
  coverage: CoverageTracker;
  /** Wall-clock budget of the mutation phase (seeds always run whole). */
  durationMs: number;
  /** Stop after this many runs (for reproducible tests). */
  maxRuns?: number;
  seed: number;
  /** Inputs to start from besides the target's seeds (the checked-in corpus). */
  corpus?: readonly Uint8Array[];
  /** How long one async run may take before it counts as a hang. */
  runTimeoutMs?: number;
  /** Runs between `target.check()` calls. */
  checkEvery?: number;
  /** Largest batch for stateless targets (1 turns batching off). */
  maxBatch?: number;
  /** Resident memory above which the process counts as unbounded (bytes). */
  maxRssBytes?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** A broken invariant, with the input that broke it. */
export interface FindingRecord {
  input: Uint8Array;
  message: string;
  stack: string | undefined;
}

/** What one fuzzing session reached. */
export interface FuzzReport {
  target: string;
  runs: number;
  seconds: number;
  runsPerSecond: number;
  /** Coverage takes, and the mean time of one in ms. */
  takes: number;
  msPerTake: number;
  /** Inputs kept for new coverage (seeds that added nothing are not kept). */
  corpus: Uint8Array[];
  features: number;
  blocks: number;
  functions: number;
  /** Covered blocks per source file in scope. */
  scripts: Map<string, number>;
  findings: FindingRecord[];
}

const MAX_FINDINGS = 20;

/**
 * Runs one input, mapping a throw, a hang or a promise rejected with nobody to handle it (during
 * the run) to a finding message.
 */
async function runGuarded(
  fn: () => void | Promise<void>,
  timeoutMs: number,
): Promise<{ message: string; stack: string | undefined } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  let unhandled: unknown;
  let hasUnhandled = false;
  const onUnhandled = (reason: unknown) => {
    if (hasUnhandled) return;
    hasUnhandled = true;
    unhandled = reason;
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    const result = fn();
    if (result !== undefined) {
      await Promise.race([
        result,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`hang: the run did not finish within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      // A rejection is reported unhandled only after the microtasks of its turn have run.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (hasUnhandled) {
      const err = unhandled instanceof Error ? unhandled : new Error(String(unhandled));
      return { message: `unhandled rejection: ${err.name}: ${err.message}`, stack: err.stack };
    }
    return undefined;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { message: `${err.name}: ${err.message}`, stack: err.stack };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    process.off('unhandledRejection', onUnhandled);
  }
}

/** The part of a finding message that identifies it: digits and hex numbers blanked. */
function findingKey(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/0x[0-9a-f]+|\d+/gi, 'N');
}

/** Fuzzes `target` for the given budget and reports what it reached. */
export async function fuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzReport> {
  const { coverage } = opts;
  const rng = new Rng(opts.seed);
  const timeoutMs = opts.runTimeoutMs ?? 5000;
  const checkEvery = opts.checkEvery ?? 500;
  const maxBatch = target.stateless ? (opts.maxBatch ?? 64) : 1;
  const maxRss = opts.maxRssBytes ?? 2 * 1024 ** 3;
  const log = opts.log ?? (() => {});
  coverage.setScope(scopeOf(target.scope));

  const seen = new Set<number>();
  const seenBlocks = new Set<number>();
  const corpus: Uint8Array[] = [];
  const findings: FindingRecord[] = [];
  const findingKeys = new Set<string>();
  const taken = new Set<number>();
  let runs = 0;

  const record = (input: Uint8Array, failure: { message: string; stack: string | undefined }) => {
    const key = findingKey(failure.message);
    if (findingKeys.has(key) || findings.length >= MAX_FINDINGS) return;
    findingKeys.add(key);
    findings.push({ input: input.slice(), ...failure });
    log(`${target.name}: FINDING after ${runs} runs: ${failure.message}`);
  };
  /** Adds the input when `taken` holds a feature not seen yet. */
  const keepIfNew = (input: Uint8Array): boolean => {
    let fresh = false;
    for (const f of taken) {
      if (!seen.has(f)) {
        seen.add(f);
        seenBlocks.add(f >>> 3);
        fresh = true;
      }
    }
    if (fresh) corpus.push(input);
    return fresh;
  };
  const runOne = async (input: Uint8Array): Promise<boolean> => {
    const failure = await runGuarded(() => target.run(input), timeoutMs);
    runs++;
    coverage.take(taken);
    if (failure !== undefined) record(input, failure);
    return keepIfNew(input);
  };
  /**
   * Runs inputs with one coverage take; when they reached a block not seen yet, bisects them
   * (one take per half) down to the inputs responsible, which are then kept. Returns whether
   * anything new was found.
   */
  const runBatch = async (inputs: Uint8Array[]): Promise<boolean> => {
    if (inputs.length === 1) return runOne(inputs[0] as Uint8Array);
    for (const input of inputs) {
      const failure = await runGuarded(() => target.run(input), timeoutMs);
      if (failure !== undefined) record(input, failure);
    }
    runs += inputs.length;
    coverage.take(taken, true);
    let fresh = false;
    for (const f of taken) {
      if (!seenBlocks.has(f >>> 3)) {
        fresh = true;
        break;
      }
    }
    if (!fresh) return false;
    const half = inputs.length >> 1;
    const a = await runBatch(inputs.slice(0, half));
    const b = await runBatch(inputs.slice(half));
    return a || b;
  };
  const check = async () => {
    const failure = await runGuarded(() => target.check?.(), timeoutMs);
    if (failure !== undefined) record(new Uint8Array(0), failure);
    const rss = process.memoryUsage().rss;
    if (rss > maxRss)
      record(new Uint8Array(0), { message: `memory: RSS ${rss} bytes above ${maxRss}`, stack: undefined });
  };

  await target.setup?.();
  coverage.discard();
  const started = performance.now();
  const takesBefore = coverage.takes;
  const takeMsBefore = coverage.takeMs;
  try {
    for (const input of [...(opts.corpus ?? []), ...target.seeds()]) {
      await runOne(input.length > target.maxLen ? input.subarray(0, target.maxLen) : input);
    }
    if (corpus.length === 0) corpus.push(new Uint8Array(0));
    await check();
    log(`${target.name}: ${corpus.length} of the seeds kept, ${seen.size} features`);

    const ctx: MutationContext = {
      rng,
      maxLen: target.maxLen,
      other: () => rng.pick(corpus),
      dictionary: target.dictionary ?? [],
    };
    const mutant = (): Uint8Array => {
      // Recent additions are where the search is moving; favour them.
      const parent = rng.oneIn(2) ? rng.pick(corpus.slice(-16)) : rng.pick(corpus);
      if (target.mutate !== undefined && rng.oneIn(2)) {
        const m = target.mutate(parent, ctx);
        if (m !== undefined) return m.length > target.maxLen ? m.subarray(0, target.maxLen) : m;
      }
      return mutateBytes(parent, ctx);
    };

    const deadline = performance.now() + opts.durationMs;
    let batch = 1;
    let nextCheck = runs + checkEvery;
    let nextLog = performance.now() + 10_000;
    while (performance.now() < deadline && (opts.maxRuns === undefined || runs < opts.maxRuns)) {
      // Every eighth round runs one input alone, so hit-count changes are seen in batch mode too.
      const single = rng.oneIn(8);
      const fresh =
        single || batch === 1
          ? await runOne(mutant())
          : await runBatch(Array.from({ length: batch }, mutant));
      if (!single) batch = fresh ? 1 : Math.min(batch * 2, maxBatch);
      if (runs >= nextCheck) {
        nextCheck = runs + checkEvery;
        await check();
      }
      if (performance.now() > nextLog) {
        nextLog = performance.now() + 10_000;
        const s = (performance.now() - started) / 1000;
        log(
          `${target.name}: ${runs} runs (${Math.round(runs / s)}/s), corpus ${corpus.length}, ${seen.size} features`,
        );
      }
    }
    await check();
  } finally {
    await target.teardown?.();
  }
  const seconds = (performance.now() - started) / 1000;
  const summary = coverage.summarize(seen);
  return {
    target: target.name,
    runs,
    seconds,
    runsPerSecond: runs / seconds,
    takes: coverage.takes - takesBefore,
    msPerTake: (coverage.takeMs - takeMsBefore) / Math.max(1, coverage.takes - takesBefore),
    corpus,
    features: seen.size,
    blocks: summary.blocks,
    functions: summary.functions,
    scripts: summary.scripts,
    findings,
  };
}

/**
 * Corpus minimisation: runs every input alone and keeps, smallest first, those that add a
 * feature the kept ones do not already cover. Returns the kept inputs and the findings met.
 */
export async function minimizeCorpus(
  target: FuzzTarget,
  coverage: CoverageTracker,
  inputs: readonly Uint8Array[],
  runTimeoutMs = 5000,
): Promise<{ kept: Uint8Array[]; features: number; findings: FindingRecord[] }> {
  coverage.setScope(scopeOf(target.scope));
  const union = new Set<number>();
  const taken = new Set<number>();
  const kept: Uint8Array[] = [];
  const findings: FindingRecord[] = [];
  await target.setup?.();
  try {
    coverage.discard();
    const sorted = [...inputs].sort((a, b) => a.length - b.length);
    for (const input of sorted) {
      const failure = await runGuarded(() => target.run(input), runTimeoutMs);
      coverage.take(taken);
      if (failure !== undefined) findings.push({ input, ...failure });
      let fresh = false;
      for (const f of taken) {
        if (!union.has(f)) {
          union.add(f);
          fresh = true;
        }
      }
      if (fresh) kept.push(input);
    }
  } finally {
    await target.teardown?.();
  }
  return { kept, features: union.size, findings };
}

/** Runs each input once (no coverage) and returns the findings: the regression check. */
export async function replay(
  target: FuzzTarget,
  inputs: readonly Uint8Array[],
  runTimeoutMs = 5000,
): Promise<FindingRecord[]> {
  const findings: FindingRecord[] = [];
  await target.setup?.();
  try {
    for (const input of inputs) {
      const failure = await runGuarded(() => target.run(input), runTimeoutMs);
      if (failure !== undefined) findings.push({ input, ...failure });
    }
    const failure = await runGuarded(() => target.check?.(), runTimeoutMs);
    if (failure !== undefined) findings.push({ input: new Uint8Array(0), ...failure });
  } finally {
    await target.teardown?.();
  }
  return findings;
}
