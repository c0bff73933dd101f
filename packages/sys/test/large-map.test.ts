import { fileURLToPath } from 'node:url';
import { runProcess } from '@vfu/test-utils';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./fixtures/large-map.ts', import.meta.url));
const GiB = 2 ** 30;

// Each size runs in a child process: before windows, mapping more than 4 GiB aborted the process
// in the addon (a double free), which would have taken the test runner with it.
describe('MappedRegion larger than one ArrayBuffer', () => {
  it.each([
    ['4 GiB + 4 KiB', 4 * GiB + 4096],
    ['64 GiB', 64 * GiB],
    ['1 TiB (sparse)', 1024 * GiB],
  ])('maps a %s memfd and reaches it through windows', async (_name, size) => {
    const run = await runProcess(process.execPath, ['--import', 'tsx', script, String(size)], {
      timeoutMs: 60_000,
    });
    expect(run.signal, run.stderr).toBeNull();
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      length: number;
      wholeBuffer: string;
      probes: { at: number; window: number; again: number; viaFd: number }[];
      detachedAfterUnmap: boolean;
    };
    expect(out.length).toBe(size);
    expect(out.wholeBuffer).toBe('OUT_OF_RANGE');
    expect(out.probes.map((p) => p.at)).toEqual([0, 2 ** 32 - 4096, size - 8192]);
    for (const p of out.probes) expect(p).toMatchObject({ window: 8192, again: 0xa5, viaFd: 0xa5 });
    expect(out.detachedAfterUnmap).toBe(true);
  });
});
