import { Bench } from 'tinybench';

/** One measured operation. `fn` runs once per iteration; async functions are awaited. */
export interface BenchCase {
  name: string;
  fn: () => unknown;
  /** Work done once before measuring (warm caches, open sockets). */
  setup?: () => unknown;
  /** Undoes `setup`. */
  teardown?: () => unknown;
}

export interface BenchSuite {
  /** Printed above the table, e.g. "@vfu/memory: AddressSpace dispatch". */
  title: string;
  /** What every other case is compared with, measured in the same run. */
  baseline: BenchCase;
  cases: BenchCase[];
  /** Measuring time per case in ms (default 1000; `VFU_BENCH_TIME_MS` overrides). */
  timeMs?: number;
}

export interface BenchRow {
  name: string;
  opsPerSec: number;
  meanNs: number;
  p99Ns: number;
  samples: number;
  /** This case's mean time divided by the baseline's: 2 means "twice as slow as the baseline". */
  ratioToBaseline: number;
}

/**
 * Runs the baseline and every case in one process, one after the other, and prints a table whose
 * last column is each case's mean time as a ratio to the baseline's. Ratios within one run are the
 * only figures worth comparing on shared, noisy machines.
 */
export async function runBenchSuite(suite: BenchSuite): Promise<BenchRow[]> {
  const envTime = Number(process.env.VFU_BENCH_TIME_MS);
  const time = Number.isFinite(envTime) && envTime > 0 ? envTime : (suite.timeMs ?? 1000);
  const all = [suite.baseline, ...suite.cases];
  const rows: BenchRow[] = [];
  for (const c of all) {
    await c.setup?.();
    try {
      const bench = new Bench({ time, warmup: true, warmupTime: Math.min(200, time / 4) });
      bench.add(c.name, c.fn);
      await bench.run();
      const task = bench.tasks[0];
      const result = task?.result;
      if (!task || !result || result.state !== 'completed') {
        const reason =
          result && 'error' in result ? String((result as { error?: unknown }).error) : 'no result';
        throw new Error(`benchmark "${c.name}" failed: ${reason}`);
      }
      const meanNs = result.latency.mean * 1e6;
      rows.push({
        name: c.name,
        opsPerSec: result.throughput.mean,
        meanNs,
        p99Ns: (result.latency.p99 ?? result.latency.mean) * 1e6,
        samples: result.latency.samplesCount,
        ratioToBaseline: 0,
      });
    } finally {
      await c.teardown?.();
    }
  }
  const base = rows[0]!;
  for (const r of rows) r.ratioToBaseline = r.meanNs / base.meanNs;
  printTable(suite.title, suite.baseline.name, rows);
  return rows;
}

/** Prints rows as an aligned table; exported for suites that measure by hand. */
export function printTable(title: string, baselineName: string, rows: readonly BenchRow[]): void {
  const header = ['case', 'ops/s', 'mean', 'p99', 'samples', `x baseline`];
  const body = rows.map((r) => [
    r.name === baselineName ? `${r.name} (baseline)` : r.name,
    formatNumber(r.opsPerSec),
    formatNs(r.meanNs),
    formatNs(r.p99Ns),
    String(r.samples),
    r.ratioToBaseline.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${title}\nbaseline: ${baselineName}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

function formatNumber(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(1);
}

function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}
