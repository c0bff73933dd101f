import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeTempDir, type ServerProcess, startServerProcess } from '@vfu/test-utils';
import { onTestFinished } from 'vitest';

/** The reference server's built entry point. */
export const SERVER_SCRIPT = fileURLToPath(new URL('../../../apps/server/dist/cli.js', import.meta.url));
const SERVER_SOURCE = fileURLToPath(new URL('../../../apps/server/src/cli.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * `VFU_SERVER_FROM_SOURCE=1` runs the server from its TypeScript sources (through tsx), for
 * working on both sides without rebuilding; the default is the built app, as CI runs it.
 */
const fromSource = process.env.VFU_SERVER_FROM_SOURCE === '1';

/** True when the reference server can be started. */
export const serverAvailable = fromSource ? existsSync(SERVER_SOURCE) : existsSync(SERVER_SCRIPT);

/** Why end-to-end tests skip, when they do. */
export const serverSkipReason = `reference server not built: ${SERVER_SCRIPT} is missing (run \`corepack pnpm --filter @vfu/server-app build\`)`;

/** A running `vfu-server` and the socket of each device, by device id. */
export interface RunningServer {
  process: ServerProcess;
  sockets: Record<string, string>;
}

/**
 * Starts `vfu-server` with one endpoint per device spec (`DRIVER,id=ID[,props]`), each on its
 * own socket in a fresh temp dir; the process is killed and awaited when the test finishes.
 */
export async function startServer(devices: readonly string[]): Promise<RunningServer> {
  const dir = makeTempDir('vfu-client-e2e-');
  onTestFinished(() => dir.remove());
  const sockets: Record<string, string> = {};
  const args: string[] = [];
  for (const spec of devices) {
    const id = /(?:^|,)id=([^,]+)/.exec(spec)?.[1];
    if (id === undefined) throw new Error(`device spec needs an id: ${spec}`);
    sockets[id] = dir.join(`${id}.sock`);
    args.push('-device', `${spec},socket=${sockets[id]}`);
  }
  const process_ = await startServerProcess({
    script: fromSource ? SERVER_SOURCE : SERVER_SCRIPT,
    args,
    cwd: REPO_ROOT,
    env: fromSource
      ? {
          ...process.env,
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --conditions=@vfu/source --import tsx`,
        }
      : process.env,
    cleanup: (fn) => onTestFinished(async () => void (await fn())),
  });
  return { process: process_, sockets };
}
