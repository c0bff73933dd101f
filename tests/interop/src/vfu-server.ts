/**
 * Starting vfio-user servers for scenarios: `vfu-server` (apps/server) and any other server binary
 * (e.g. a libvfio-user sample). The `vfu-server` command line is built in one function,
 * {@link vfuServerArgs}, so a change of its syntax is one edit.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InteropError } from './errors';
import { type ManagedProcess, startManagedProcess } from './managed-process';

/** A `vfio-user-server` object: one socket, one root bus. */
export interface VfuServerEndpoint {
  readonly id: string;
  readonly socketPath: string;
}

/** A device on an endpoint's bus (`-device DRIVER,id=ID,bus=BUS,key=value...`). */
export interface VfuServerDevice {
  readonly driver: string;
  readonly id: string;
  readonly bus: string;
  readonly properties?: Readonly<Record<string, string | number | boolean>>;
}

/** What one `vfu-server` process serves. */
export interface VfuServerSpec {
  readonly endpoints: readonly VfuServerEndpoint[];
  readonly devices: readonly VfuServerDevice[];
  /** QMP monitor socket (`-qmp unix:PATH,server=on,wait=off`). */
  readonly monitorSocket?: string;
  /** `--trace`: every vfio-user message on stderr, so a failure report shows the last exchanges. */
  readonly trace?: boolean;
  /**
   * Further sockets the server creates that must exist before it counts as ready, e.g. a
   * `pci-serial,chardev=socket:PATH` backend.
   */
  readonly readySockets?: readonly string[];
  readonly extraArgs?: readonly string[];
}

const OPTION_VALUE = /^[^,\s]+$/;

function optionValue(what: string, value: string | number | boolean): string {
  const text = typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
  if (!OPTION_VALUE.test(text)) {
    throw new InteropError(
      'invalid-argument',
      `${what} '${text}' cannot be written in a -device/-object option (comma or space)`,
    );
  }
  return text;
}

/** The repository root (this package lives in tests/interop). */
export function repositoryRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/** Path of the built `vfu-server` CLI, `apps/server/dist/cli.js`. */
export function vfuServerCliPath(root = repositoryRoot()): string {
  return join(root, 'apps', 'server', 'dist', 'cli.js');
}

/** Whether the `vfu-server` CLI has been built (scenarios are skipped until it is). */
export function isVfuServerBuilt(root = repositoryRoot()): boolean {
  return existsSync(vfuServerCliPath(root));
}

/**
 * The `vfu-server` arguments for `spec`, QEMU-style:
 * `-object vfio-user-server,id=s0,socket=PATH -device edu,id=edu0,bus=s0 ...`.
 */
export function vfuServerArgs(spec: VfuServerSpec): string[] {
  if (spec.endpoints.length === 0) {
    throw new InteropError('invalid-argument', 'a vfu-server needs at least one vfio-user-server endpoint');
  }
  const args: string[] = [];
  for (const endpoint of spec.endpoints) {
    args.push(
      '-object',
      `vfio-user-server,id=${optionValue('endpoint id', endpoint.id)},socket=${optionValue('socket path', endpoint.socketPath)}`,
    );
  }
  for (const device of spec.devices) {
    const props = Object.entries(device.properties ?? {}).map(
      ([k, v]) => `,${optionValue('property', k)}=${optionValue(k, v)}`,
    );
    args.push(
      '-device',
      `${optionValue('driver', device.driver)},id=${optionValue('device id', device.id)},bus=${optionValue('bus', device.bus)}${props.join('')}`,
    );
  }
  if (spec.monitorSocket !== undefined) {
    args.push('-qmp', `unix:${optionValue('monitor socket', spec.monitorSocket)},server=on,wait=off`);
  }
  if (spec.trace) args.push('--trace');
  args.push(...(spec.extraArgs ?? []));
  return args;
}

/** Options of {@link startVfioUserServer}. */
export interface VfioUserServerOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Sockets that must exist before the server counts as ready. */
  readonly readySockets: readonly string[];
  /** Readiness limit in ms (default 15 000). */
  readonly readyTimeoutMs?: number;
}

/**
 * Starts any vfio-user server process and waits until its sockets exist. On a readiness failure
 * the process is stopped and the error carries its output.
 */
export async function startVfioUserServer(options: VfioUserServerOptions): Promise<ManagedProcess> {
  const server = await startManagedProcess({
    name: options.name,
    command: options.command,
    args: options.args,
  });
  try {
    for (const socket of options.readySockets)
      await server.waitForPath(socket, options.readyTimeoutMs ?? 15_000);
  } catch (cause) {
    await server.stop();
    throw cause;
  }
  return server;
}

/** Starts `node apps/server/dist/cli.js <vfuServerArgs(spec)>` and waits for every socket. */
export function startVfuServer(
  spec: VfuServerSpec,
  name = 'vfu-server',
  root = repositoryRoot(),
): Promise<ManagedProcess> {
  const cli = vfuServerCliPath(root);
  if (!existsSync(cli)) {
    throw new InteropError('server-start-failed', `${cli} does not exist; build apps/server first`, {
      server: name,
      path: cli,
    });
  }
  return startVfioUserServer({
    name,
    command: process.execPath,
    args: [cli, ...vfuServerArgs(spec)],
    readySockets: [
      ...spec.endpoints.map((e) => e.socketPath),
      ...(spec.monitorSocket ? [spec.monitorSocket] : []),
      ...(spec.readySockets ?? []),
    ],
  });
}
