/** Starts `serve-nvme.ts` in a child process on a socket in a fresh temp dir, for the tests. */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./serve-nvme.ts', import.meta.url));

/** A running NVMe server process. */
export interface NvmeServer {
  readonly socketPath: string;
  readonly dir: string;
  readonly child: ChildProcess;
  /** Output so far (stderr and stdout). */
  output(): string;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
}

/** A fresh temp dir, removed by the returned cleanup. */
export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'vfu-nvme-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts the server; `drive` is `file:PATH` or `null:BYTES`. */
export async function startNvmeServer(
  drive: string,
  props: string[] = [],
  dir?: string,
): Promise<NvmeServer> {
  const where = dir ?? mkdtempSync(join(tmpdir(), 'vfu-nvme-'));
  const socketPath = join(where, `nvme-${Math.random().toString(36).slice(2, 8)}.sock`);
  const child = spawn(
    process.execPath,
    ['--conditions=@vfu/source', '--import', 'tsx', SCRIPT, socketPath, drive, ...props],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
    const check = (): void => {
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`server exited: ${out}`));
    });
  });
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    socketPath,
    dir: where,
    child,
    output: () => out,
    stop: async () => {
      await end('SIGTERM');
      if (dir === undefined) rmSync(where, { recursive: true, force: true });
    },
    kill: () => end('SIGKILL'),
  };
}
