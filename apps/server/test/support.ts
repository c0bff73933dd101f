/** Shared pieces of the end-to-end tests: paths, a vfio-user client, server start-up. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  Command,
  decodeMessage,
  encodeMessage,
  HEADER_SIZE,
  type Message,
  type ReplyOf,
  type RequestOf,
} from '@vfu/protocol';
import { makeTempDir, runProcess, startServerProcess, type TempDir } from '@vfu/test-utils';
import { type Channel, connect } from '@vfu/transport';
import { onTestFinished } from 'vitest';

/** The built executable. */
export const CLI = new URL('../dist/cli.js', import.meta.url).pathname;

/** Workspace packages `dist/cli.js` loads at run time, directly or not. */
const RUNTIME_PACKAGES = ['memory', 'pci', 'devices', 'block', 'protocol', 'sys', 'transport', 'server'];

/**
 * Environment of the spawned CLI. turbo builds every dependency before this package's tests; when
 * they run alone (`vitest run` here) and a dependency has no `dist` yet, the built CLI loads the
 * workspace packages from source instead, through the `@vfu/source` condition and tsx.
 */
export const CLI_ENV: NodeJS.ProcessEnv = RUNTIME_PACKAGES.every((p) =>
  existsSync(new URL(`../../../packages/${p}/dist/index.js`, import.meta.url)),
)
  ? process.env
  : {
      ...process.env,
      NODE_OPTIONS:
        `${process.env.NODE_OPTIONS ?? ''} --conditions=@vfu/source --import=${createRequire(import.meta.url).resolve('tsx')}`.trim(),
    };

/** Runs the CLI to completion. */
export function runCli(args: readonly string[], cwd?: string) {
  return runProcess(process.execPath, [CLI, ...args], {
    env: CLI_ENV,
    ...(cwd === undefined ? {} : { cwd }),
  });
}

/** A temp dir removed when the test ends. */
export function tempDir(): TempDir {
  const dir = makeTempDir('vfu-app-');
  onTestFinished(() => dir.remove());
  return dir;
}

/** Starts `vfu-server args` and stops it (SIGTERM, awaited) when the test ends. */
export function startServer(args: readonly string[], cwd?: string) {
  return startServerProcess({
    script: CLI,
    args,
    env: CLI_ENV,
    ...(cwd === undefined ? {} : { cwd }),
    cleanup: (fn) => onTestFinished(async () => void (await fn())),
  });
}

/** A typed vfio-user request over `channel`. */
export async function call<C extends Command>(
  channel: Channel,
  command: C,
  body: RequestOf<C>,
): Promise<ReplyOf<C>> {
  const bytes = encodeMessage({ kind: 'request', command, msgId: 0, body } as Message);
  const reply = await channel.request(command, bytes.subarray(HEADER_SIZE), { acceptFds: 1 });
  const fds = reply.takeFds();
  for (const fd of fds) fd.close();
  const decoded = decodeMessage({ header: reply.header, payload: reply.payload, fds: fds.map((f) => f.fd) });
  if (decoded.kind !== 'reply') throw new Error(`unexpected ${decoded.kind}`);
  return decoded.body as ReplyOf<C>;
}

/** Connects to an endpoint, negotiates VERSION and asks DEVICE_GET_INFO; closes the connection. */
export async function probeEndpoint(socketPath: string) {
  const channel = await connect(socketPath);
  try {
    const version = await call(channel, Command.Version, {
      major: 0,
      minor: 2,
      capabilities: { maxMsgFds: 8 },
    });
    const info = await call(channel, Command.DeviceGetInfo, { argsz: 16 });
    return { version, info };
  } finally {
    await channel.close();
  }
}

/** Whether a path exists. */
export const exists = (path: string): boolean => existsSync(path);
