/**
 * Building the QEMU command line for a guest run. Pure functions: the runner maps host paths into
 * the QEMU root filesystem and passes the results here.
 */
import { posix } from 'node:path';
import { InteropError } from './errors';

/** A `vfio-user-pci` device to attach to the guest. */
export interface VfioUserDevice {
  /** Absolute host path of the vfio-user server's UNIX socket. */
  readonly socketPath: string;
  /** QEMU device id (`-device ...,id=`); needed to unplug it later. */
  readonly id?: string;
  /** PCI slot.function on its bus, e.g. `'04.0'`. */
  readonly addr?: string;
  /** The bus to plug into, e.g. a `pcie-root-port` id; default the q35 root bus. */
  readonly bus?: string;
  /** Further `vfio-user-pci` properties, e.g. `{ 'x-msg-timeout': 10000 }`. */
  readonly properties?: Readonly<Record<string, string | number | boolean>>;
}

/** Which accelerator QEMU uses. KVM only where it is known to boot the guest (nested KVM may not). */
export type QemuAccel = 'tcg' | 'kvm';

/** Everything that shapes the QEMU command line, with paths as QEMU sees them. */
export interface QemuCommandOptions {
  readonly kernel: string;
  readonly initrd: string;
  readonly memoryMiB: number;
  readonly cpus: number;
  readonly accel: QemuAccel;
  readonly kernelArgs: readonly string[];
  /** Devices with `socketPath` already mapped to the path QEMU sees. */
  readonly devices: readonly VfioUserDevice[];
  /** Path of a QMP socket QEMU should listen on, if any. */
  readonly qmpSocket?: string;
  /** Appended verbatim (e.g. `-device pcie-root-port,...`). */
  readonly extraArgs?: readonly string[];
}

/** The kernel arguments every run uses: serial console, reboot on panic (QEMU exits: -no-reboot). */
export const BASE_KERNEL_ARGS: readonly string[] = [
  'console=ttyS0',
  'panic=-1',
  'loglevel=4',
  'iomem=relaxed',
];

/**
 * The JSON `-device` value for one `vfio-user-pci` device. QEMU takes the socket only as a JSON
 * object (`socket=/path` and `socket.path=` are rejected), so the whole device is JSON.
 */
export function vfioUserDeviceJson(device: VfioUserDevice): string {
  if (!posix.isAbsolute(device.socketPath)) {
    throw new InteropError(
      'invalid-argument',
      `vfio-user socket path must be absolute: '${device.socketPath}'`,
      {
        path: device.socketPath,
      },
    );
  }
  const json: Record<string, unknown> = {
    driver: 'vfio-user-pci',
    socket: { type: 'unix', path: device.socketPath },
  };
  if (device.id !== undefined) json.id = device.id;
  if (device.bus !== undefined) json.bus = device.bus;
  if (device.addr !== undefined) json.addr = device.addr;
  for (const [key, value] of Object.entries(device.properties ?? {})) {
    if (key in json) {
      throw new InteropError('invalid-argument', `vfio-user-pci property '${key}' is set by its own option`);
    }
    json[key] = value;
  }
  return JSON.stringify(json);
}

/** The argument vector (without the program name) of `qemu-system-x86_64` for a guest run. */
export function buildQemuArgs(options: QemuCommandOptions): string[] {
  if (!Number.isInteger(options.memoryMiB) || options.memoryMiB < 64) {
    throw new InteropError(
      'invalid-argument',
      `guest memory must be an integer >= 64 MiB, got ${options.memoryMiB}`,
    );
  }
  if (!Number.isInteger(options.cpus) || options.cpus < 1) {
    throw new InteropError('invalid-argument', `guest cpus must be a positive integer, got ${options.cpus}`);
  }
  const args = [
    // Guest RAM is a shared memfd so the vfio-user client can pass its fd with DMA_MAP.
    '-machine',
    `q35,accel=${options.accel},memory-backend=mem`,
    '-object',
    `memory-backend-memfd,id=mem,size=${options.memoryMiB}M,share=on`,
    '-m',
    `${options.memoryMiB}M`,
    '-cpu',
    'max',
    '-smp',
    String(options.cpus),
    '-display',
    'none',
    '-vga',
    'none',
    '-nodefaults',
    '-no-user-config',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-no-reboot',
    '-kernel',
    options.kernel,
    '-initrd',
    options.initrd,
    '-append',
    [...BASE_KERNEL_ARGS, ...options.kernelArgs].join(' '),
  ];
  if (options.qmpSocket !== undefined) args.push('-qmp', `unix:${options.qmpSocket},server=on,wait=off`);
  args.push(...(options.extraArgs ?? []));
  for (const device of options.devices) args.push('-device', vfioUserDeviceJson(device));
  return args;
}

/** Where the host directories holding sockets appear inside the QEMU root filesystem. */
export interface SocketMountPlan {
  /** Host directories to bind, in order; directory i appears at `${mountBase}/s${i}`. */
  readonly hostDirs: readonly string[];
  /** For each input socket path, the path QEMU sees. */
  readonly guestPaths: readonly string[];
}

/**
 * Maps socket paths to paths under `mountBase` by binding each distinct parent directory once.
 * Binding directories (not sockets) lets a server create its socket after the guest starts.
 */
export function planSocketMounts(socketPaths: readonly string[], mountBase: string): SocketMountPlan {
  const hostDirs: string[] = [];
  const guestPaths = socketPaths.map((socketPath) => {
    if (!posix.isAbsolute(socketPath)) {
      throw new InteropError('invalid-argument', `vfio-user socket path must be absolute: '${socketPath}'`, {
        path: socketPath,
      });
    }
    const dir = posix.dirname(socketPath);
    let index = hostDirs.indexOf(dir);
    if (index < 0) index = hostDirs.push(dir) - 1;
    return posix.join(mountBase, `s${index}`, posix.basename(socketPath));
  });
  return { hostDirs, guestPaths };
}

/**
 * QEMU arguments for a PCIe root port `id` that takes hot-added devices. q35 signals hot-plug into
 * root ports through ACPI by default; native PCIe hot-plug (the guest's pciehp) is switched on
 * instead because it reports the new function without a bus rescan, and the port reserves 4 KiB of
 * I/O space (firmware opens no I/O window behind an empty port otherwise).
 */
export function hotplugRootPortArgs(id = 'rp0', chassis = 1): string[] {
  return [
    '-global',
    'ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off',
    '-device',
    `pcie-root-port,id=${id},chassis=${chassis},slot=${chassis},io-reserve=4096`,
  ];
}

/** QMP `device_add` arguments that plug a `vfio-user-pci` device (socket path as QEMU sees it). */
export function vfioUserDeviceAddArgs(device: VfioUserDevice): Record<string, unknown> {
  return JSON.parse(vfioUserDeviceJson(device)) as Record<string, unknown>;
}
