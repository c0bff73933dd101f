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
  const src = (p: string) => JSON.stringify(fileURLToPath(new URL(p, import.meta.url)));
  writeFileSync(
    dir.join('example.mts'),
    code
      .replace("'@vfu/transport'", src('../src/index.ts'))
      .replace("'@vfu/protocol'", src('../../protocol/src/index.ts')),
  );
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
