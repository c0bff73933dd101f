import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  readonly path: string;
  /** Joins `parts` under the directory. */
  join(...parts: string[]): string;
  /** Removes the directory and everything in it. Safe to call twice. */
  remove(): void;
}

/**
 * A fresh directory under the system temp dir. UNIX socket paths are limited to 107 bytes, so the
 * prefix is short.
 */
export function makeTempDir(prefix = 'vfu-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    join: (...parts) => join(path, ...parts),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}
