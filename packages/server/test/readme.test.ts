import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '@vfu/test-utils';
import { expect, it, onTestFinished } from 'vitest';

it('the README example runs and prints what its comment says', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const code = /## Example[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)![1]!;
  const dir = makeTempDir();
  onTestFinished(() => dir.remove());
  const src = (p: string) => JSON.stringify(fileURLToPath(new URL(p, import.meta.url)));
  let program = code.replace("'@vfu/server'", src('../src/index.ts'));
  for (const pkg of ['memory', 'pci', 'protocol', 'transport']) {
    program = program.replace(`'@vfu/${pkg}'`, src(`../../${pkg}/src/index.ts`));
  }
  writeFileSync(dir.join('example.mts'), program);
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@vfu/source', dir.join('example.mts')],
    {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    },
  );
  const expected = /console\.log\(.*\); \/\/ (.*)/.exec(code)![1]!;
  expect(out.trim()).toBe(expected);
});
