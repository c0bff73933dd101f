import { readdirSync, readlinkSync } from 'node:fs';

/**
 * This process's open descriptor numbers, from /proc/self/fd, sorted. Meant for leak checks:
 * compare before and after.
 */
export function listOpenFds(): number[] {
  const dir = '/proc/self/fd';
  // The descriptor readdirSync used to list the directory is closed by now, so its entry is the
  // one whose link no longer resolves.
  return readdirSync(dir)
    .filter((name) => {
      try {
        readlinkSync(`${dir}/${name}`);
        return true;
      } catch {
        return false;
      }
    })
    .map(Number)
    .sort((a, b) => a - b);
}
