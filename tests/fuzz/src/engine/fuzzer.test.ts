import { describe, expect, test } from 'vitest';
import { CoverageTracker } from './coverage';
import { fuzz, minimizeCorpus, replay } from './fuzzer';
import { Rng } from './rng';

describe('coverage-guided engine', () => {
  test('reaches a defect behind nested comparisons that blind mutation would not', async () => {
    const coverage = new CoverageTracker();
    coverage.start();
    try {
      // Loaded after coverage starts, so V8 instruments its blocks.
      const { plantedTarget } = await import('./planted');
      const report = await fuzz(plantedTarget(), { coverage, durationMs: 60_000, maxRuns: 200_000, seed: 7 });
      expect(report.findings.map((f) => f.message)).toEqual(['Finding: planted defect reached']);
      const found = report.findings[0]?.input as Uint8Array;
      expect(Array.from(found.subarray(0, 4))).toEqual([0x76, 0x66, 0x75, 0x21]);
      // Each comparison passed is a block of its own, kept in the corpus on the way.
      expect(report.blocks).toBeGreaterThanOrEqual(5);
      expect(await replay(plantedTarget(), [found])).toHaveLength(1);

      // Minimisation keeps a subset that covers every feature the whole corpus covers.
      const all = [...report.corpus, ...report.corpus.map((c) => Uint8Array.of(...c, 1, 2, 3))];
      const minimised = await minimizeCorpus(plantedTarget(), coverage, all);
      expect(minimised.kept.length).toBeLessThanOrEqual(report.corpus.length);
      const again = await minimizeCorpus(plantedTarget(), coverage, minimised.kept);
      expect(again.features).toBe(minimised.features);
      expect(again.kept).toHaveLength(minimised.kept.length);
    } finally {
      coverage.stop();
    }
  });

  test('reports a rejection nobody handles, and a run that never finishes', async () => {
    const target = {
      name: 'careless',
      description: 'leaves a rejected promise behind, or hangs',
      scope: [],
      maxLen: 8,
      stateless: true,
      seeds: () => [],
      run: async (input: Uint8Array) => {
        if (input[0] === 1) void Promise.reject(new Error('forgotten'));
        if (input[0] === 2) await new Promise(() => {});
      },
    };
    const findings = await replay(target, [Uint8Array.of(0), Uint8Array.of(1), Uint8Array.of(2)], 200);
    expect(findings.map((f) => [f.input[0], f.message])).toEqual([
      [1, 'unhandled rejection: Error: forgotten'],
      [2, 'Error: hang: the run did not finish within 200 ms'],
    ]);
  });

  test('the generator is reproducible from its seed and spreads its values', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 1000 }, () => a.below(10));
    expect(Array.from({ length: 1000 }, () => b.below(10))).toEqual(xs);
    for (let v = 0; v < 10; v++) expect(xs.filter((x) => x === v).length).toBeGreaterThan(50);
  });
});
