import { fileURLToPath } from 'node:url';
import { makeTempDir, readmeExamples, runReadmeExample } from '@vfu/test-utils';
import { expect, it, onTestFinished } from 'vitest';

it('the README example runs and prints what its comment says', () => {
  const code = readmeExamples(fileURLToPath(new URL('../README.md', import.meta.url)), 'Example')[0];
  expect(code).toBeDefined();
  const dir = makeTempDir();
  onTestFinished(() => dir.remove());
  const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));
  const run = runReadmeExample(code as string, {
    sources: {
      '@vfu/trace/capture': src('../src/capture.ts'),
      '@vfu/protocol': src('../../protocol/src/index.ts'),
    },
    dir,
    cwd: src('..'),
  });
  expect(run.output).toBe(run.expected);
});
