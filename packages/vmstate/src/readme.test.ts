import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it, vi } from 'vitest';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

it('the README example runs and prints what its comments say', async () => {
  const readme = readFileSync(here('../README.md'), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const expected = [...(code as string).matchAll(/console\.log\(.*\); \/\/ (.*)$/gm)].map((m) => m[1]);
  expect(expected.length).toBeGreaterThan(0);

  dir = mkdtempSync(join(here('.'), '.readme-'));
  const file = join(dir, 'example.ts');
  writeFileSync(file, (code as string).replaceAll("'@vfu/vmstate'", JSON.stringify(here('./index.ts'))));
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => lines.push(args.map(String).join(' ')));
  await import(file);
  expect(lines).toEqual(expected);
});
