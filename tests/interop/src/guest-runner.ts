/**
 * Boots a Linux guest under QEMU's vfio-user client and runs a script in it. QEMU comes from the
 * interop cache's root filesystem: it runs chrooted there, inside a private mount namespace
 * (`unshare -m`) that binds only the run directory and the directories holding the servers'
 * sockets, so every mount dies with QEMU. QEMU is its own process group; success, failure, timeout
 * and a throwing hook all end with the group killed and the run directory removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type InteropCache, resolveInteropCache } from './cache';
import {
  type ConsoleEvent,
  ConsoleLineSplitter,
  type GuestCheck,
  parseConsoleLine,
  tailLines,
} from './console-protocol';
import { encodeCpioNewc } from './cpio';
import { InteropError } from './errors';
import { readGuestHelpers } from './guest-script';
import { type ManagedProcess, type ProcessExit, startManagedProcess } from './managed-process';
import { buildQemuArgs, planSocketMounts, type QemuAccel, type VfioUserDevice } from './qemu-command';
import { connectQmp, type QmpClient } from './qmp';

/** Where the run directory and the socket directories appear inside the QEMU root filesystem. */
const MOUNT_BASE = '/run/vfu';

/**
 * Shell run by `unshare -m` before QEMU: a tmpfs over the rootfs's /run (so the cache is never
 * written), /proc and /dev, then the binds, then exec chroot. Arguments: rootfs, run dir, socket
 * dirs..., `--`, the QEMU command.
 */
const LAUNCH_SCRIPT = `set -e
root="$1"; run="$2"; shift 2
mount -t tmpfs -o mode=755 vfu-interop "$root/run"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mkdir -p "$root${MOUNT_BASE}/run"
mount --bind "$run" "$root${MOUNT_BASE}/run"
i=0
while [ "$1" != "--" ]; do
  mkdir "$root${MOUNT_BASE}/s$i"
  mount --bind "$1" "$root${MOUNT_BASE}/s$i"
  i=$((i + 1)); shift
done
shift
exec chroot "$root" "$@"`;

/** Something whose log belongs in a failure report (a vfio-user server). */
export interface LogSource {
  readonly name: string;
  log(): string;
}

/** Control over a guest while it runs, handed to {@link GuestRunOptions.onEvent}. */
export interface RunningGuest {
  readonly name: string;
  /** The QMP session (needs `qmp: true`); connected on first use. */
  qmp(): Promise<QmpClient>;
  /** Console output so far. */
  console(): string;
  /** Lets a guest blocked in `waitForHost` go on (writes a line to its serial console). */
  release(): void;
  /** The path QEMU sees for a host socket path listed in `devices` or `hotplugSockets`. */
  socketPathInQemu(hostPath: string): string;
}

/** Options of {@link runGuest}. */
export interface GuestRunOptions {
  /** Name used in reports (default `guest`). */
  readonly name?: string;
  /** Body of the run script (see `guest-script.ts`); the guest helpers are sourced before it. */
  readonly script: string;
  /** vfio-user servers to attach, as `vfio-user-pci` devices in order (00:01.0, 00:02.0... unless `addr`). */
  readonly devices?: readonly VfioUserDevice[];
  /** Default: {@link resolveInteropCache}(). */
  readonly cache?: InteropCache;
  /** Guest RAM in MiB (default 256). */
  readonly memoryMiB?: number;
  /** vCPUs (default 1). */
  readonly cpus?: number;
  /** Default `tcg`: nested KVM on these machines does not boot a stock kernel. */
  readonly accel?: QemuAccel;
  /** Appended to the kernel command line. */
  readonly kernelArgs?: readonly string[];
  /** Appended to QEMU's arguments (e.g. a `pcie-root-port` for hot-add). */
  readonly extraQemuArgs?: readonly string[];
  /**
   * Sockets of servers to hot-add later (QMP `device_add`): their directories are bound into QEMU's
   * root filesystem at start; {@link RunningGuest.socketPathInQemu} gives the path to pass.
   */
  readonly hotplugSockets?: readonly string[];
  /** Expose a QMP socket (for {@link RunningGuest.qmp}). */
  readonly qmp?: boolean;
  /** Whole-run limit in ms (default 120 000); the guest is killed when it passes. */
  readonly timeoutMs?: number;
  /** Called for every protocol line (check, value, mark...); a throw fails the run. */
  readonly onEvent?: (event: ConsoleEvent, guest: RunningGuest) => void | Promise<void>;
  /** Called with console text as it arrives (e.g. to echo it while debugging). */
  readonly onConsole?: (text: string) => void;
}

/** How a guest run ended. */
export type GuestRunStatus =
  /** The script ran to the end with status 0 (no failed check). */
  | 'passed'
  /** The script ran to the end with a non-zero status. */
  | 'failed'
  /** The time limit passed; QEMU was killed. */
  | 'timeout'
  /** QEMU exited without a result marker (bad arguments, server unreachable, guest panic...). */
  | 'no-result'
  /** An `onEvent` hook threw; QEMU was killed. */
  | 'hook-failed';

/** The outcome of a guest run. */
export interface GuestRunResult {
  readonly name: string;
  readonly status: GuestRunStatus;
  /** Exit status of the run script (its failed-check count), when the marker was seen. */
  readonly rc: number | undefined;
  readonly checks: readonly GuestCheck[];
  /** Values the guest reported, by key, in order. */
  readonly values: ReadonlyMap<string, readonly string[]>;
  /** The whole serial console (CR stripped). */
  readonly console: string;
  /** QEMU's own stdout noise is on the console; this is its stderr (e.g. vfio-user errors). */
  readonly qemuStderr: string;
  readonly qemuExit: ProcessExit | undefined;
  /** Wall time from QEMU start to its exit, in ms. */
  readonly durationMs: number;
  /** The error thrown by a hook, for `hook-failed`. */
  readonly hookError: unknown;
  /** The QEMU command line (inside the chroot), for reports. */
  readonly qemuCommand: readonly string[];
  /** Whether the guest's init started (printed its line with this run's nonce). */
  readonly initSeen: boolean;
  /** Process id (and group id) QEMU ran as; gone when the result is returned. */
  readonly qemuPid: number;
}

/**
 * Boots a guest, runs `options.script`, waits for the result marker or the time limit, and tears
 * everything down. Guest and QEMU failures are reported in the result, not thrown (see
 * {@link assertGuestPassed}); bad options and a missing cache throw {@link InteropError}.
 */
export async function runGuest(options: GuestRunOptions): Promise<GuestRunResult> {
  const name = options.name ?? 'guest';
  const cache = options.cache ?? resolveInteropCache();
  const devices = options.devices ?? [];
  const hostSockets = [...devices.map((d) => d.socketPath), ...(options.hotplugSockets ?? [])];
  const plan = planSocketMounts(hostSockets, MOUNT_BASE);
  const socketMap = new Map(hostSockets.map((path, i) => [path, plan.guestPaths[i]!]));
  const runDir = mkdtempSync(join(tmpdir(), 'vfu-guest-'));
  try {
    const nonce = randomBytes(8).toString('hex');
    const runCpio = encodeCpioNewc([
      { kind: 'directory', path: 'etc' },
      { kind: 'directory', path: 'etc/vfu-interop' },
      { kind: 'file', path: 'etc/vfu-interop/nonce', data: `${nonce}\n` },
      { kind: 'file', path: 'etc/vfu-interop/helpers.sh', data: readGuestHelpers() },
      {
        kind: 'file',
        path: 'etc/vfu-interop/run.sh',
        data: `. /etc/vfu-interop/helpers.sh\n${options.script}`,
        mode: 0o755,
      },
    ]);
    // The kernel unpacks concatenated archives in order; the small uncompressed one goes first.
    writeFileSync(join(runDir, 'initrd.img'), Buffer.concat([runCpio, readFileSync(cache.initramfs)]));
    const qmpSocket = options.qmp ? `${MOUNT_BASE}/run/qmp.sock` : undefined;
    const qemuCommand = [
      '/usr/bin/qemu-system-x86_64',
      ...buildQemuArgs({
        kernel: `${MOUNT_BASE}/run/vmlinuz`,
        initrd: `${MOUNT_BASE}/run/initrd.img`,
        memoryMiB: options.memoryMiB ?? 256,
        cpus: options.cpus ?? 1,
        accel: options.accel ?? 'tcg',
        kernelArgs: options.kernelArgs ?? [],
        devices: devices.map((d, i) => ({ ...d, socketPath: plan.guestPaths[i]! })),
        ...(qmpSocket === undefined ? {} : { qmpSocket }),
        ...(options.extraQemuArgs === undefined ? {} : { extraArgs: options.extraQemuArgs }),
      }),
    ];
    writeFileSync(join(runDir, 'vmlinuz'), readFileSync(cache.kernel));
    return await supervise(name, options, cache, runDir, plan.hostDirs, socketMap, qemuCommand, nonce);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

async function supervise(
  name: string,
  options: GuestRunOptions,
  cache: InteropCache,
  runDir: string,
  socketDirs: readonly string[],
  socketMap: ReadonlyMap<string, string>,
  qemuCommand: readonly string[],
  nonce: string,
): Promise<GuestRunResult> {
  const splitter = new ConsoleLineSplitter();
  const checks: GuestCheck[] = [];
  const values = new Map<string, string[]>();
  let consoleText = '';
  let stderr = '';
  let rc: number | undefined;
  let started = false;
  let timedOut = false;
  let hookError: unknown;
  let hookFailed = false;
  let qmp: QmpClient | undefined;
  let hooks = Promise.resolve();
  let qemu: ManagedProcess | undefined;

  const guest: RunningGuest = {
    name,
    console: () => consoleText,
    release() {
      qemu?.child.stdin?.write('go\n');
    },
    socketPathInQemu(hostPath) {
      const path = socketMap.get(hostPath);
      if (path === undefined) {
        throw new InteropError(
          'invalid-argument',
          `${hostPath} was not listed in devices or hotplugSockets of guest ${name}`,
          {
            guest: name,
            path: hostPath,
          },
        );
      }
      return path;
    },
    async qmp() {
      if (!options.qmp)
        throw new InteropError('invalid-argument', `guest ${name} was started without qmp: true`, {
          guest: name,
        });
      qmp ??= await connectQmp(join(runDir, 'qmp.sock'));
      return qmp;
    },
  };

  const onLine = (line: string): void => {
    const event = parseConsoleLine(line);
    if (event === undefined) return;
    switch (event.kind) {
      case 'init':
        started = event.nonce === nonce;
        break;
      case 'result':
        if (event.nonce === nonce) rc = event.rc;
        break;
      case 'check':
        checks.push(event.check);
        break;
      case 'value': {
        const list = values.get(event.key) ?? [];
        list.push(event.value);
        values.set(event.key, list);
        break;
      }
      case 'mark':
        break;
    }
    if (options.onEvent) {
      const hook = options.onEvent;
      // Hooks run one after another, in console order.
      hooks = hooks.then(async () => {
        if (hookFailed) return;
        try {
          await hook(event, guest);
        } catch (cause) {
          hookFailed = true;
          hookError = cause;
          void qemu?.stop(1000);
        }
      });
    }
  };

  const begin = Date.now();
  qemu = await startManagedProcess({
    name: `qemu(${name})`,
    command: 'unshare',
    stdinPipe: true,
    args: [
      '-m',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      LAUNCH_SCRIPT,
      'vfu-launch',
      cache.rootfs,
      runDir,
      ...socketDirs,
      '--',
      ...qemuCommand,
    ],
    onOutput: (text, stream) => {
      if (stream === 'stderr') {
        stderr = (stderr + text).slice(-64 * 1024);
        return;
      }
      consoleText += text.replaceAll('\r', '');
      options.onConsole?.(text);
      for (const line of splitter.push(text)) onLine(line);
    },
  }).catch((cause: unknown) => {
    throw new InteropError('qemu-start-failed', `cannot start QEMU for guest ${name}: ${String(cause)}`, {
      guest: name,
      cause,
    });
  });
  const running = qemu;
  const timer = setTimeout(() => {
    timedOut = true;
    void running.stop(1000);
  }, options.timeoutMs ?? 120_000);
  let qemuExit: ProcessExit | undefined;
  try {
    qemuExit = await running.exited;
  } finally {
    clearTimeout(timer);
    await running.stop(1000);
    qmp?.close();
  }
  for (const line of splitter.flush()) onLine(line);
  await hooks;
  const durationMs = Date.now() - begin;
  const status: GuestRunStatus = hookFailed
    ? 'hook-failed'
    : rc !== undefined
      ? rc === 0
        ? 'passed'
        : 'failed'
      : timedOut
        ? 'timeout'
        : 'no-result';
  return {
    name,
    status,
    rc,
    checks,
    values,
    console: consoleText,
    qemuStderr: stderr,
    qemuExit,
    durationMs,
    hookError,
    qemuCommand,
    qemuPid: running.pid,
    initSeen: started,
  };
}

/**
 * A readable report of a guest run: status, failed checks, the tail of the console and of QEMU's
 * stderr, and the tail of each server's log.
 */
export function formatGuestReport(
  result: GuestRunResult,
  servers: readonly LogSource[] = [],
  tail = 40,
): string {
  const lines = [
    `guest ${result.name}: ${result.status}${result.rc === undefined ? '' : ` (script status ${result.rc})`} after ${result.durationMs} ms`,
  ];
  const failed = result.checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    lines.push('failed checks:', ...failed.map((c) => `  ${c.name}: ${c.detail}`));
  }
  if (!result.initSeen)
    lines.push('the guest never reached its /init (QEMU, firmware or kernel failed first)');
  if (result.status === 'hook-failed') lines.push(`host hook threw: ${String(result.hookError)}`);
  lines.push(`qemu exit: ${JSON.stringify(result.qemuExit)}`);
  lines.push(`--- guest console (last ${tail} lines)`, tailLines(result.console, tail));
  if (result.qemuStderr.trim() !== '') lines.push('--- qemu stderr', tailLines(result.qemuStderr, tail));
  for (const server of servers)
    lines.push(`--- server ${server.name} log (last ${tail} lines)`, tailLines(server.log(), tail));
  lines.push(`--- qemu command`, result.qemuCommand.join(' '));
  return lines.join('\n');
}

/** Throws an {@link InteropError} carrying {@link formatGuestReport} unless the run passed. */
export function assertGuestPassed(result: GuestRunResult, servers: readonly LogSource[] = []): void {
  if (result.status === 'passed') return;
  const report = formatGuestReport(result, servers);
  const code =
    result.status === 'timeout'
      ? 'guest-timeout'
      : result.status === 'no-result'
        ? 'no-result-marker'
        : 'guest-failed';
  throw new InteropError(code, report, { guest: result.name, report });
}

/** The single value the guest reported for `key`; throws `guest-failed` when there is not exactly one. */
export function guestValue(result: GuestRunResult, key: string): string {
  const list = result.values.get(key) ?? [];
  if (list.length !== 1) {
    throw new InteropError(
      'guest-failed',
      `guest ${result.name} reported ${list.length} values for '${key}', expected 1`,
      {
        guest: result.name,
      },
    );
  }
  return list[0]!;
}
