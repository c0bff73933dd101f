/** The checked-in corpora and regression inputs: one directory per target, one file per input. */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `tests/fuzz/corpus`: inputs that reach the coverage found so far, minimised. */
export const CORPUS_DIR = fileURLToPath(new URL('../corpus', import.meta.url));
/** `tests/fuzz/regressions`: inputs that once broke an invariant; replayed by the tests. */
export const REGRESSIONS_DIR = fileURLToPath(new URL('../regressions', import.meta.url));

/** Inputs stored for `target` under `dir`, in name order. */
export function readInputs(dir: string, target: string): Uint8Array[] {
  const d = `${dir}/${target}`;
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .filter((n) => n.endsWith('.bin'))
    .sort()
    .map((n) => new Uint8Array(readFileSync(`${d}/${n}`)));
}

/** A content-addressed file name for an input. */
export function inputName(input: Uint8Array): string {
  return `${createHash('sha1').update(input).digest('hex').slice(0, 16)}.bin`;
}

/** Replaces the inputs stored for `target` under `dir` by `inputs`. */
export function writeInputs(dir: string, target: string, inputs: readonly Uint8Array[]): void {
  const d = `${dir}/${target}`;
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  for (const input of inputs) writeFileSync(`${d}/${inputName(input)}`, input);
}

/** Adds one input for `target` under `dir`; returns its path. */
export function addInput(dir: string, target: string, input: Uint8Array): string {
  const d = `${dir}/${target}`;
  mkdirSync(d, { recursive: true });
  const path = `${d}/${inputName(input)}`;
  writeFileSync(path, input);
  return path;
}
