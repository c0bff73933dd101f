import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { pointImportsAt, readmeExamples, runReadmeExample } from './readme-example';
import { makeTempDir } from './temp-dir';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

const README = [
  '# @vfu/thing',
  '',
  '```sh',
  'npm install @vfu/thing',
  '```',
  '',
  '```ts',
  "const before = 'intro';",
  '```',
  '',
  '## Example',
  '',
  '```ts',
  "import { twice } from '@vfu/thing';",
  'console.log(twice(21)); // 42',
  '```',
  '',
  '```ts',
  'second();',
  '```',
  '',
].join('\n');

function tempDir(): ReturnType<typeof makeTempDir> {
  const dir = makeTempDir('vfu-readme-');
  onTestFinished(() => dir.remove());
  return dir;
}

describe('readmeExamples', () => {
  it('returns the ts blocks in order, from a section on when asked', () => {
    const dir = tempDir();
    writeFileSync(dir.join('README.md'), README);
    expect(readmeExamples(dir.join('README.md'))).toEqual([
      "const before = 'intro';\n",
      "import { twice } from '@vfu/thing';\nconsole.log(twice(21)); // 42\n",
      'second();\n',
    ]);
    expect(readmeExamples(dir.join('README.md'), 'Example')).toEqual([
      "import { twice } from '@vfu/thing';\nconsole.log(twice(21)); // 42\n",
      'second();\n',
    ]);
  });

  it('throws when the section is missing', () => {
    const dir = tempDir();
    writeFileSync(dir.join('README.md'), README);
    expect(() => readmeExamples(dir.join('README.md'), 'Usage')).toThrow(/has no "## Usage" section/);
  });
});

describe('pointImportsAt', () => {
  it('rewrites every import of the named packages and nothing else', () => {
    const code = [
      "import type { A } from '@vfu/a';",
      "import { a } from '@vfu/a';",
      "import { b } from '@vfu/b';",
      "import { ab } from '@vfu/ab';",
    ].join('\n');
    expect(pointImportsAt(code, { '@vfu/a': '/src/a.ts', '@vfu/b': '/src/b.ts' })).toBe(
      [
        'import type { A } from "/src/a.ts";',
        'import { a } from "/src/a.ts";',
        'import { b } from "/src/b.ts";',
        "import { ab } from '@vfu/ab';",
      ].join('\n'),
    );
  });
});

describe('runReadmeExample', () => {
  /** A package source the example imports by name. */
  function thing(dir: ReturnType<typeof tempDir>, body: string): Record<string, string> {
    writeFileSync(dir.join('thing.ts'), body);
    return { '@vfu/thing': dir.join('thing.ts') };
  }

  it('runs the example against the given sources and returns its output and expectation', () => {
    const dir = tempDir();
    const sources = thing(dir, 'export const twice = (n: number): number => 2 * n;\n');
    writeFileSync(dir.join('README.md'), README);
    const code = readmeExamples(dir.join('README.md'), 'Example')[0] as string;
    expect(runReadmeExample(code, { sources, dir, cwd: PACKAGE_DIR })).toEqual({
      output: '42',
      expected: '42',
    });
  });

  it('reports what a wrong example really printed', () => {
    const dir = tempDir();
    const sources = thing(dir, 'export const twice = (n: number): number => 3 * n;\n');
    const code = "import { twice } from '@vfu/thing';\nconsole.log(twice(21)); // 42\n";
    expect(runReadmeExample(code, { sources, dir, cwd: PACKAGE_DIR })).toEqual({
      output: '63',
      expected: '42',
    });
  });

  it('throws when the example fails or states no expected output', () => {
    const dir = tempDir();
    const sources = thing(dir, 'export const twice = (): number => { throw new Error("broken"); };\n');
    expect(() =>
      runReadmeExample("import { twice } from '@vfu/thing';\nconsole.log(twice()); // 42\n", {
        sources,
        dir,
        cwd: PACKAGE_DIR,
      }),
    ).toThrow(/broken/);
    expect(() => runReadmeExample('console.log(1);\n', { sources, dir, cwd: PACKAGE_DIR })).toThrow(
      /no `console.log\(\.\.\.\); \/\/ expected output` line/,
    );
  });
});
