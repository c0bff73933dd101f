import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it, vi } from 'vitest';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

it('the README example is this file, and prints what its comments and the README say', async () => {
  const example = readFileSync(here('./readme-example.ts'), 'utf8');
  const readme = readFileSync(here('../README.md'), 'utf8');
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);

  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((v: unknown) => lines.push(String(v)));
  await import('./readme-example');

  const expected = [...example.matchAll(/console\.log\(.*\); \/\/ -> (.*)$/gm)].map((m) => m[1]);
  expect(lines.slice(0, expected.length)).toEqual(expected);
  const dump = lines[expected.length]!;
  expect(dump).toContain('bar0');
  expect(readme).toContain(`\`\`\`text\n${dump}\`\`\``);
});
