/**
 * A child process started in its own process group, with its output kept (bounded) for reports,
 * and a `stop()` that ends the whole group: SIGTERM, then SIGKILL after a grace period. Used for
 * vfio-user servers and for QEMU itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { InteropError } from './errors';

/** How a process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Options of {@link startManagedProcess}. */
export interface ManagedProcessOptions {
  /** Name used in reports and errors. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Output kept for reports, in characters (default 256 KiB); older output is dropped. */
  readonly maxLogChars?: number;
  /** Called with each chunk of stdout or stderr text. */
  readonly onOutput?: (text: string, stream: 'stdout' | 'stderr') => void;
  /** Keep stdin open as a pipe (default: stdin is /dev/null). */
  readonly stdinPipe?: boolean;
}

/** A running process group. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** The exit, once it happened. */
  exitStatus(): ProcessExit | undefined;
  /** stdout and stderr interleaved, the last `maxLogChars` characters. */
  log(): string;
  /** Waits until `path` exists (e.g. the server's socket). Throws if the process exits first. */
  waitForPath(path: string, timeoutMs: number): Promise<void>;
  /** Waits until the output matches `pattern`. Throws if the process exits first. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** Ends the process group (SIGTERM, SIGKILL after `graceMs`, default 3000) and awaits the exit. */
  stop(graceMs?: number): Promise<ProcessExit>;
}

/** Starts `command` in a new process group. Throws `server-start-failed` if it cannot be spawned. */
export async function startManagedProcess(options: ManagedProcessOptions): Promise<ManagedProcess> {
  const maxLogChars = options.maxLogChars ?? 256 * 1024;
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: [options.stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (cause) =>
      reject(
        new InteropError(
          'server-start-failed',
          `cannot start ${options.name} (${options.command}): ${String(cause)}`,
          {
            server: options.name,
            cause,
          },
        ),
      ),
    );
  });
  const pid = child.pid!;
  // Writing to a process that just exited must not crash the test run (EPIPE).
  child.stdin?.on('error', () => undefined);
  let log = '';
  let exit: ProcessExit | undefined;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of waiters) waiter();
  };
  const append = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    log = (log + text).slice(-maxLogChars);
    options.onOutput?.(text, stream);
    wake();
  };
  child.stdout!.on('data', append('stdout'));
  child.stderr!.on('data', append('stderr'));
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('close', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
      wake();
    });
  });

  const waitFor = (what: string, done: () => boolean, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (done()) {
          finish();
          resolve();
        } else if (exit !== undefined) {
          finish();
          reject(
            new InteropError(
              'server-exited',
              `${options.name} exited (code ${exit.code}, signal ${exit.signal}) before ${what}; its output:\n${log.slice(-4000)}`,
              { server: options.name },
            ),
          );
        }
      };
      const poll = setInterval(check, 50);
      const timer = setTimeout(() => {
        finish();
        reject(
          new InteropError(
            'server-start-failed',
            `${options.name}: no ${what} after ${timeoutMs} ms; its output:\n${log.slice(-4000)}`,
            {
              server: options.name,
            },
          ),
        );
      }, timeoutMs);
      const finish = (): void => {
        clearInterval(poll);
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is already gone.
    }
  };

  return {
    name: options.name,
    pid,
    child,
    exited,
    exitStatus: () => exit,
    log: () => log,
    waitForPath: (path, timeoutMs) => waitFor(`${path}`, () => existsSync(path), timeoutMs),
    waitForOutput: (pattern, timeoutMs) =>
      waitFor(`output matching ${pattern}`, () => pattern.test(log), timeoutMs),
    async stop(graceMs = 3000) {
      if (exit === undefined) signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      // Children that outlived the leader still belong to the group.
      signalGroup('SIGKILL');
      return result;
    },
  };
}
