import { fileURLToPath } from 'node:url';
import { makeTempDir, readmeExamples, runReadmeExample } from '@vfu/test-utils';
import { expect, it, onTestFinished } from 'vitest';

it('the README example runs and prints what its comment says', () => {
  const code = readmeExamples(fileURLToPath(new URL('../README.md', import.meta.url)), 'Example')[0];
  expect(code).toBeDefined();
  const dir = makeTempDir();
  onTestFinished(() => dir.remove());
  const run = runReadmeExample(code as string, {
    sources: { '@vfu/block': fileURLToPath(new URL('../src/index.ts', import.meta.url)) },
    dir,
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  expect(run.output).toBe(run.expected);
});
