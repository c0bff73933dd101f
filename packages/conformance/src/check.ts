/** Checks, their outcomes, and the context the server checks run in. */

/** Where a check's rule comes from. */
export interface SpecRef {
  /** Section of QEMU's docs/interop/vfio-user.rst, by title. */
  section: string;
  /** Further source when the rule is practice rather than spec text (libvfio-user, QEMU). */
  practice?: string;
}

/** The outcome of one check. */
export type Outcome =
  | { status: 'pass'; detail?: string }
  | { status: 'fail'; detail: string }
  | { status: 'skip'; detail: string };

/** A check that failed because of a rule (thrown by `expectThat`). */
export class CheckFailure extends Error {
  override readonly name = 'CheckFailure';
}

/** A check that does not apply to this peer (thrown by `skip`). */
export class CheckSkipped extends Error {
  override readonly name = 'CheckSkipped';
}

export function expectThat(condition: boolean, detail: string): asserts condition {
  if (!condition) throw new CheckFailure(detail);
}

export function skip(reason: string): never {
  throw new CheckSkipped(reason);
}

/** One check of a suite. */
export interface Check<Ctx> {
  /** Stable id, e.g. `region-info.bar0.index-echoed`; `--expect` files name it. */
  id: string;
  title: string;
  spec: SpecRef;
  run(ctx: Ctx): Promise<string | undefined> | Promise<void>;
}

/** A check's result. */
export interface CheckResult {
  id: string;
  title: string;
  spec: SpecRef;
  outcome: Outcome;
  /** Listed in the `--expect` file, with its reason. */
  expected: string | undefined;
  ms: number;
}

/** Runs `checks` in order. */
export async function runChecks<Ctx>(
  checks: readonly Check<Ctx>[],
  ctx: Ctx,
  expected: ReadonlyMap<string, string>,
  onResult?: (r: CheckResult, index: number) => void,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [i, c] of checks.entries()) {
    const start = performance.now();
    let outcome: Outcome;
    try {
      const detail = await c.run(ctx);
      outcome = detail === undefined ? { status: 'pass' } : { status: 'pass', detail };
    } catch (e) {
      if (e instanceof CheckSkipped) outcome = { status: 'skip', detail: e.message };
      else if (e instanceof CheckFailure) outcome = { status: 'fail', detail: e.message };
      else outcome = { status: 'fail', detail: `check raised: ${(e as Error)?.message ?? String(e)}` };
    }
    const r: CheckResult = {
      id: c.id,
      title: c.title,
      spec: c.spec,
      outcome,
      expected: expected.get(c.id),
      ms: performance.now() - start,
    };
    results.push(r);
    onResult?.(r, i);
  }
  return results;
}

/** Counts; `failed` excludes failures the expect file lists. */
export interface Summary {
  total: number;
  passed: number;
  failed: number;
  expectedFailures: number;
  unexpectedPasses: number;
  skipped: number;
}

export function summarize(results: readonly CheckResult[]): Summary {
  const s: Summary = {
    total: results.length,
    passed: 0,
    failed: 0,
    expectedFailures: 0,
    unexpectedPasses: 0,
    skipped: 0,
  };
  for (const r of results) {
    if (r.outcome.status === 'skip') s.skipped++;
    else if (r.outcome.status === 'pass') {
      s.passed++;
      if (r.expected !== undefined) s.unexpectedPasses++;
    } else if (r.expected !== undefined) s.expectedFailures++;
    else s.failed++;
  }
  return s;
}
