import { afterEach, describe, expect, it, vi } from 'vitest';
import { printTable, runBenchSuite } from './bench';

describe('runBenchSuite', () => {
  afterEach(() => vi.restoreAllMocks());

  it('measures the baseline first and reports every case as a ratio to it', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const order: string[] = [];
    const rows = await runBenchSuite({
      title: 'demo',
      timeMs: 20,
      baseline: { name: 'cheap', fn: () => order.push('cheap') },
      cases: [
        {
          name: 'dear',
          setup: () => order.push('setup'),
          fn: () => {
            let x = 0;
            for (let i = 0; i < 2000; i++) x += Math.sqrt(i);
            return x;
          },
          teardown: () => order.push('teardown'),
        },
      ],
    });
    expect(rows.map((r) => r.name)).toEqual(['cheap', 'dear']);
    expect(rows[0]!.ratioToBaseline).toBe(1);
    expect(rows[1]!.ratioToBaseline).toBeGreaterThan(1);
    expect(order[0]).toBe('cheap');
    expect(order).toContain('setup');
    expect(order.at(-1)).toBe('teardown');
    expect(log.mock.calls.map((c) => String(c[0])).join('\n')).toContain('cheap (baseline)');
  });

  it('fails loudly when a case throws', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    await expect(
      runBenchSuite({
        title: 'broken',
        timeMs: 10,
        baseline: { name: 'ok', fn: () => 1 },
        cases: [
          {
            name: 'boom',
            fn: () => {
              throw new Error('kaput');
            },
          },
        ],
      }),
    ).rejects.toThrow(/boom/);
  });
});

describe('printTable', () => {
  it('aligns columns and marks the baseline', () => {
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((s: unknown) => lines.push(String(s)));
    printTable('t', 'a', [
      { name: 'a', opsPerSec: 2e6, meanNs: 500, p99Ns: 900, samples: 10, ratioToBaseline: 1 },
      { name: 'b', opsPerSec: 1e3, meanNs: 1e6, p99Ns: 2e6, samples: 5, ratioToBaseline: 2000 },
    ]);
    const text = lines.join('\n');
    expect(text).toContain('a (baseline)');
    expect(text).toContain('2.00M');
    expect(text).toContain('2000.00');
    expect(text).toContain('1.00 ms');
  });
});
