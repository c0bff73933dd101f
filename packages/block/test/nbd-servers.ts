/**
 * Real NBD servers for the tests: nbdkit (memory plugin, optional filters) and qemu-nbd (a raw
 * file), on a UNIX socket or a loopback TCP port. Each is stopped when the test finishes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { commandAvailable } from '@vfu/test-utils';
import { onTestFinished } from 'vitest';
import type { NbdAddress } from '../src/index';

export type Transport = 'unix' | 'tcp';

/** Why NBD tests cannot run here, or undefined when they can. Under CI a missing tool is a failure. */
export function nbdToolMissing(tool: 'nbdkit' | 'qemu-nbd'): string | undefined {
  if (commandAvailable(tool, ['--version'])) return undefined;
  const line = `${tool} not found (Debian package ${tool === 'nbdkit' ? 'nbdkit' : 'qemu-utils'}; scripts/install-system-deps.sh installs it)`;
  if (process.env.CI === 'true') throw new Error(line);
  return line;
}

export interface RunningNbdServer {
  readonly address: NbdAddress;
  readonly process: ChildProcess;
  /** SIGKILLs the server and waits for it to exit. */
  kill(): Promise<void>;
  /** Resolves with the exit code once the server exits by itself. */
  exited(): Promise<number | null>;
}

/** A free loopback TCP port (bound and released; the server binds it next). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitListening(address: NbdAddress, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`NBD server exited with ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s =
        address.type === 'unix'
          ? net.createConnection({ path: address.path })
          : net.createConnection({ host: address.host, port: Number(address.port) });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`NBD server not listening after 15 s: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForSocketFile(path: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!existsSync(path)) {
    if (child.exitCode !== null) throw new Error(`NBD server exited with ${child.exitCode}: ${stderr()}`);
    if (Date.now() > deadline) throw new Error(`NBD server socket missing after 15 s: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function start(
  command: string,
  args: string[],
  address: NbdAddress,
  probe = true,
): Promise<RunningNbdServer> {
  // A killed server leaves its socket file behind, and a new one refuses to bind over it.
  if (address.type === 'unix') rmSync(address.path, { force: true });
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exit;
  };
  onTestFinished(kill);
  // A probe connection would be the only client of a non-persistent qemu-nbd, which then exits.
  if (probe) await waitListening(address, child, () => err);
  else if (address.type === 'unix') await waitForSocketFile(address.path, child, () => err);
  else throw new Error('a non-persistent server needs a UNIX socket here');
  return { address, process: child, kill, exited: () => exit };
}

export async function addressFor(transport: Transport, socketPath: string): Promise<NbdAddress> {
  return transport === 'unix'
    ? { type: 'unix', path: socketPath }
    : { type: 'inet', host: '127.0.0.1', port: String(await freePort()) };
}

function listenArgs(kind: 'nbdkit' | 'qemu-nbd', address: NbdAddress): string[] {
  if (address.type === 'unix') return kind === 'nbdkit' ? ['-U', address.path] : ['-k', address.path];
  return kind === 'nbdkit'
    ? ['-i', address.host, '-p', address.port]
    : ['-b', address.host, '-p', address.port];
}

/** `nbdkit -f ... memory size=SIZE` with optional filters and extra arguments. */
export function startNbdkit(
  address: NbdAddress,
  opts: { size?: string; flags?: string[]; params?: string[] } = {},
): Promise<RunningNbdServer> {
  const args = [
    '-f',
    '--exit-with-parent',
    ...listenArgs('nbdkit', address),
    ...(opts.flags ?? []),
    'memory',
    `size=${opts.size ?? '64M'}`,
    ...(opts.params ?? []),
  ];
  return start('nbdkit', args, address);
}

/** `qemu-nbd -f raw FILE` exporting `exportName`; `persistent` keeps it serving after a client leaves. */
export function startQemuNbd(
  address: NbdAddress,
  file: string,
  opts: { exportName?: string; persistent?: boolean; readOnly?: boolean } = {},
): Promise<RunningNbdServer> {
  const args = [
    '-f',
    'raw',
    ...listenArgs('qemu-nbd', address),
    '-x',
    opts.exportName ?? 'disk',
    '-e',
    '8',
    ...(opts.persistent === false ? [] : ['-t']),
    ...(opts.readOnly ? ['-r'] : []),
    '--discard=unmap',
    file,
  ];
  return start('qemu-nbd', args, address, opts.persistent !== false);
}
