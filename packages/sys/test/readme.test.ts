import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '@vfu/test-utils';
import { expect, it, onTestFinished } from 'vitest';

it('the README example runs and prints what its comment says', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
  const dir = makeTempDir();
  onTestFinished(() => dir.remove());
  const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
  writeFileSync(dir.join('example.ts'), code.replace("'@vfu/sys'", JSON.stringify(entry)));
  const out = execFileSync(process.execPath, ['--import', 'tsx', dir.join('example.ts')], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    encoding: 'utf8',
  });
  const expected = /console\.log\(.*\); \/\/ (.*)/.exec(code)![1]!;
  expect(out.trim()).toBe(expected);
});
