import { type ChildProcess, execFileSync, spawn } from 'node:child_process';

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Output and exit of a process run to completion. */
export interface ProcessResult extends ProcessExit {
  stdout: string;
  stderr: string;
}

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) after this long; default 20000 ms. */
  timeoutMs?: number;
}

/** Runs `command args` to completion and returns its output and exit. */
export function runProcess(
  command: string,
  args: readonly string[],
  opts: RunProcessOptions = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * True when `command args` (by default `command --version`) runs and exits 0: for skipping the
 * tests that need an external tool such as `lspci` where it is not installed.
 */
export function commandAvailable(command: string, args: readonly string[] = ['--version']): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One `vfu-server: endpoint ID device DEV (DRIVER) listening on PATH` line. */
export interface EndpointLine {
  endpoint: string;
  /** Device id (or qdev path), or `undefined` for an endpoint without a device. */
  device: string | undefined;
  driver: string | undefined;
  socketPath: string;
}

const ENDPOINT_LINE = /^vfu-server: endpoint (\S+) device (?:none|(\S+) \((\S+)\)) listening on (.+)$/gm;
const MONITOR_LINE = /^vfu-server: monitor listening on (.+)$/gm;

/** Every endpoint line in `stdout`, in order. */
export function parseEndpointLines(stdout: string): EndpointLine[] {
  return [...stdout.matchAll(ENDPOINT_LINE)].map((m) => ({
    endpoint: m[1] as string,
    device: m[2],
    driver: m[3],
    socketPath: m[4] as string,
  }));
}

/** Every monitor socket path announced in `stdout`. */
export function parseMonitorLines(stdout: string): string[] {
  return [...stdout.matchAll(MONITOR_LINE)].map((m) => m[1] as string);
}

/** Options of {@link startServerProcess}. */
export interface ServerProcessOptions {
  /** The server's entry script, e.g. `apps/server/dist/cli.js` (run with this Node). */
  script: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Line that means "serving" (default: `vfu-server: ready`). */
  readyPattern?: RegExp;
  /** How long to wait for readiness (default 20000 ms). */
  readyTimeoutMs?: number;
  /**
   * Registers the process's teardown, e.g. vitest's `onTestFinished`: the process is then always
   * stopped and awaited, whatever the test did.
   */
  cleanup?: (fn: () => Promise<unknown>) => void;
}

/** A running server process. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Endpoints announced so far. */
  endpoints(): EndpointLine[];
  /** Monitor sockets announced so far. */
  monitors(): string[];
  /** Resolves with the text so far once `pattern` matches stdout (or stderr with `stream`). */
  waitForOutput(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<string>;
  /** Resolves when the process exits. */
  readonly exited: Promise<ProcessExit>;
  /** Sends `signal` (default SIGTERM), SIGKILL after `graceMs` (5000), and awaits the exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ProcessExit>;
}

/**
 * Spawns `node script args...`, waits for its readiness line and returns a handle. Rejects (after
 * killing it) if the process exits or stays silent first, with its output in the message.
 */
export async function startServerProcess(opts: ServerProcessOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, [opts.script, ...opts.args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    notify();
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
    notify();
  });
  let exit: ProcessExit | undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('close', (code, signal) => {
      exit = { code, signal };
      notify();
      resolve(exit);
    });
    child.once('error', (e) => {
      err += `\nspawn failed: ${e.message}`;
      exit = { code: null, signal: null };
      notify();
      resolve(exit);
    });
  });

  const waitForOutput = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const text = stream === 'stdout' ? out : err;
        if (new RegExp(pattern.source, pattern.flags.replace('g', '')).test(text)) {
          done();
          resolve(text);
        } else if (exit !== undefined) {
          done();
          reject(
            new Error(
              `server exited (code ${exit.code}, signal ${exit.signal}) before printing ${pattern}\nstdout:\n${out}\nstderr:\n${err}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${pattern} within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<ProcessExit> => {
    if (exit === undefined) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    return exited;
  };
  opts.cleanup?.(() => stop());

  const handle: ServerProcess = {
    child,
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    endpoints: () => parseEndpointLines(out),
    monitors: () => parseMonitorLines(out),
    waitForOutput,
    exited,
    stop,
  };
  try {
    await waitForOutput(
      opts.readyPattern ?? /^vfu-server: ready\b/m,
      'stdout',
      opts.readyTimeoutMs ?? 20_000,
    );
  } catch (e) {
    await stop('SIGKILL');
    throw e;
  }
  return handle;
}
