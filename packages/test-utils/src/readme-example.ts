import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { TempDir } from './temp-dir';

/**
 * The ```ts blocks of a README, in order; with `section`, only those after its `## section`
 * heading. Throws when the heading is missing, so a renamed section cannot make a test vacuous.
 */
export function readmeExamples(readmePath: string, section?: string): string[] {
  let text = readFileSync(readmePath, 'utf8');
  if (section !== undefined) {
    const at = text.indexOf(`## ${section}`);
    if (at === -1) throw new Error(`${readmePath} has no "## ${section}" section`);
    text = text.slice(at);
  }
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

/**
 * `code` with its imports of the named packages (`'@vfu/sys'`) pointed at the given files, so an
 * example written for users runs against this checkout's sources.
 */
export function pointImportsAt(code: string, sources: Readonly<Record<string, string>>): string {
  let out = code;
  for (const [name, file] of Object.entries(sources)) out = out.replaceAll(`'${name}'`, JSON.stringify(file));
  return out;
}

/** Options of {@link runReadmeExample}. */
export interface ReadmeExampleOptions {
  /** Package name to source file, e.g. `{ '@vfu/sys': '<repo>/packages/sys/src/index.ts' }`. */
  sources: Readonly<Record<string, string>>;
  /** Where the example file is written. */
  dir: TempDir;
  /** Working directory of the run (the package, so that its dependencies resolve). */
  cwd: string;
}

/** What a README example printed and what its comment says it prints. */
export interface ReadmeExampleRun {
  output: string;
  expected: string;
}

/**
 * Runs a README example in its own Node process (through tsx, with workspace packages read from
 * source) and returns its trimmed output next to the expectation written in the example itself:
 * the comment ending its `console.log(...); // expected` line. Throws when that line is missing or
 * the example fails.
 */
export function runReadmeExample(code: string, opts: ReadmeExampleOptions): ReadmeExampleRun {
  const expected = /console\.log\(.*\); \/\/ (.*)/.exec(code)?.[1];
  if (expected === undefined)
    throw new Error('the example has no `console.log(...); // expected output` line');
  const file = opts.dir.join('example.mts');
  writeFileSync(file, pointImportsAt(code, opts.sources));
  const output = execFileSync(process.execPath, ['--import', 'tsx', '--conditions=@vfu/source', file], {
    cwd: opts.cwd,
    encoding: 'utf8',
    // stderr goes into the thrown error's message rather than the test runner's output.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { output: output.trim(), expected };
}
