import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, startServerProcess } from './server-process';
import { makeTempDir, type TempDir } from './temp-dir';

/** The repository root (this module sits two levels below it in `src/` and in `dist/` alike). */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Where the `@vfu/server-app` package is, resolved as any dependency is: the workspace root
 * declares it (a dependency of test-utils itself would be a cycle, since the app's own packages
 * test with test-utils), and its `./package.json` export names the `vfu-server` bin.
 */
function resolveServerApp(): { script: string; source: string } {
  const require = createRequire(join(REPO_ROOT, 'package.json'));
  let manifestPath: string;
  try {
    manifestPath = require.resolve('@vfu/server-app/package.json');
  } catch {
    // Not linked (no `pnpm install` since it was declared): the paths below then do not exist,
    // and the skip reason says which file is missing.
    const fallback = join(REPO_ROOT, 'node_modules', '@vfu', 'server-app');
    return { script: join(fallback, 'dist', 'cli.js'), source: join(fallback, 'src', 'cli.ts') };
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { bin?: Record<string, string> };
  const bin = manifest.bin?.['vfu-server'];
  if (bin === undefined) throw new Error(`${manifestPath} declares no vfu-server bin`);
  const root = dirname(manifestPath);
  // The bin is the build of src/cli.ts (tsup keeps the file name).
  return { script: join(root, bin), source: join(root, 'src', 'cli.ts') };
}

const SERVER_APP = resolveServerApp();

/** The reference server's built entry point: the `vfu-server` bin of `@vfu/server-app`. */
export const REFERENCE_SERVER_SCRIPT = SERVER_APP.script;
/** Its TypeScript entry point, run through tsx when working on both sides without rebuilding. */
const REFERENCE_SERVER_SOURCE = SERVER_APP.source;

/**
 * `VFU_SERVER_FROM_SOURCE=1` runs the server from its TypeScript sources (through tsx), for
 * working on both sides without rebuilding; the default is the built app, as CI runs it.
 */
function fromSourceRequested(env: NodeJS.ProcessEnv): boolean {
  return env.VFU_SERVER_FROM_SOURCE === '1';
}

/** True when the reference server can be started (its build, or its sources with `VFU_SERVER_FROM_SOURCE=1`). */
export function referenceServerAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  return existsSync(fromSourceRequested(env) ? REFERENCE_SERVER_SOURCE : REFERENCE_SERVER_SCRIPT);
}

/** Why end-to-end tests against the reference server skip, when they do. */
export function referenceServerSkipReason(env: NodeJS.ProcessEnv = process.env): string {
  return fromSourceRequested(env)
    ? `reference server sources not found: ${REFERENCE_SERVER_SOURCE} is missing`
    : `reference server not built: ${REFERENCE_SERVER_SCRIPT} is missing (run \`corepack pnpm --filter @vfu/server-app build\`)`;
}

/** A `-device` argument per device spec and the socket each device listens on, by device id. */
export interface ReferenceServerDevices {
  args: string[];
  sockets: Record<string, string>;
}

/**
 * The `-device DRIVER,id=ID[,props],socket=DIR/ID.sock` arguments for `devices`. Throws on a spec
 * without an id (the socket is named after it) or on an id given twice.
 */
export function referenceServerDeviceArgs(devices: readonly string[], dir: TempDir): ReferenceServerDevices {
  const sockets: Record<string, string> = {};
  const args: string[] = [];
  for (const spec of devices) {
    const id = /(?:^|,)id=([^,]+)/.exec(spec)?.[1];
    if (id === undefined) throw new Error(`device spec needs an id: ${spec}`);
    if (id in sockets) throw new Error(`device id ${id} given twice`);
    const socket = dir.join(`${id}.sock`);
    sockets[id] = socket;
    args.push('-device', `${spec},socket=${socket}`);
  }
  return { args, sockets };
}

/** Options of {@link startReferenceServer}. */
export interface ReferenceServerOptions {
  /**
   * Registers teardown, e.g. vitest's `onTestFinished`: the process is stopped and awaited and its
   * socket directory removed whatever the test did.
   */
  cleanup: (fn: () => Promise<void>) => unknown;
  /** Environment of the server and source of `VFU_SERVER_FROM_SOURCE` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** An entry script to run instead of the reference server (another build of it). */
  script?: string;
  /** Further server flags, after the `-device` ones (e.g. `--trace-file FILE`). */
  extraArgs?: readonly string[];
}

/** A running reference server and the socket of each device, by device id. */
export interface RunningReferenceServer {
  process: ServerProcess;
  sockets: Record<string, string>;
}

/**
 * Starts `vfu-server` (apps/server) with one endpoint per device spec (`DRIVER,id=ID[,props]`),
 * each on its own socket in a fresh temp dir, and resolves once it reports ready.
 */
export async function startReferenceServer(
  devices: readonly string[],
  opts: ReferenceServerOptions,
): Promise<RunningReferenceServer> {
  const env = opts.env ?? process.env;
  const fromSource = opts.script === undefined && fromSourceRequested(env);
  const dir = makeTempDir('vfu-e2e-');
  opts.cleanup(async () => dir.remove());
  const { args, sockets } = referenceServerDeviceArgs(devices, dir);
  const process_ = await startServerProcess({
    script: opts.script ?? (fromSource ? REFERENCE_SERVER_SOURCE : REFERENCE_SERVER_SCRIPT),
    args: [...args, ...(opts.extraArgs ?? [])],
    cwd: REPO_ROOT,
    env: fromSource
      ? { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --conditions=@vfu/source --import tsx` }
      : env,
    cleanup: (stop) =>
      opts.cleanup(async () => {
        await stop();
      }),
  });
  return { process: process_, sockets };
}
