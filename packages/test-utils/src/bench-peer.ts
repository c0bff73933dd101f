import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/** The other process of a two-process benchmark. */
export interface BenchPeer {
  readonly child: ChildProcessByStdio<Writable, Readable, null>;
  /** True when this process and the peer are both pinned to CPU 0. */
  readonly pinned: boolean;
  /** Ends the peer's stdin, its cue to exit, and resolves once it has exited. */
  stop(): Promise<void>;
}

/** Pins `pid` to CPU 0 with `taskset`; false when taskset is missing or refuses. */
export function pinToCpu0(pid: number): boolean {
  try {
    execFileSync('taskset', ['-cp', '0', String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Spawns `script args...` through tsx, with workspace packages read from source, and resolves once
 * the peer prints its first output (its readiness signal); rejects if it exits first. Both
 * processes are then pinned to one CPU when `taskset` exists, because waking a process on another
 * CPU costs more than a whole round trip on small VMs and would swamp the comparison; which case
 * applies is printed, since it changes the figures. The peer must exit when its stdin ends.
 */
export async function startBenchPeer(script: string, args: readonly string[]): Promise<BenchPeer> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@vfu/source', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      reject(new Error(`bench peer ${script} exited (code ${code}, signal ${signal}) before it was ready`));
    child.once('error', reject);
    child.once('exit', onExit);
    child.stdout.once('data', () => {
      child.off('exit', onExit);
      child.off('error', reject);
      resolve();
    });
  });
  const pinned = pinToCpu0(process.pid) && pinToCpu0(child.pid as number);
  console.log(pinned ? 'both processes pinned to CPU 0' : 'taskset unavailable: processes not pinned');
  return {
    child,
    pinned,
    stop: async () => {
      child.stdin.end();
      await closed;
    },
  };
}
