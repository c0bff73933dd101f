/**
 * The server's configuration as plain data, whichever way it was given (flags, `--config` file,
 * embedded defaults), before anything is validated against the device registry.
 */

/** `--log-level` values, most to least severe. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

/** A `--log-level` value. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The only `-object` type the server knows: one vfio-user endpoint with its own PCI root bus. */
export const VFIO_USER_SERVER_TYPE = 'vfio-user-server';

/** `-object vfio-user-server,id=ID,socket=PATH`. */
export interface EndpointSpec {
  /** Endpoint id, which is also the id of its root bus (`bus=` of devices). */
  id: string;
  /** UNIX socket path (relative paths are resolved against the working directory later). */
  socket: string;
  /** Where it was given, for error messages: `-object #1`, `$.objects[0]`. */
  source: string;
}

/** `-device DRIVER,...`: `device_add` arguments. */
export interface DeviceSpec {
  driver: string;
  id?: string;
  /** Endpoint (root bus) id. */
  bus?: string;
  /**
   * The one-device shorthand: serve this device on a new endpoint listening here (its id is the
   * first free `sN`). Exclusive with `bus`.
   */
  socket?: string;
  /** Every other option, as given (`key=value` strings or JSON values). */
  props: Record<string, unknown>;
  /** Where it was given, for error messages: `-device #2`, `$.devices[1]`. */
  source: string;
}

/** `-blockdev driver=...,node-name=...`: a block node opened before the devices that use it. */
export interface BlockdevSpec {
  /** The options as given: the keyval string or the JSON object (checked by @vfu/block). */
  options: string | Record<string, unknown>;
  /** Where it was given, for error messages: `-blockdev #1`, `$.blockdevs[0]`. */
  source: string;
}

/** A QMP monitor socket. */
export interface MonitorSpec {
  /** UNIX socket path. */
  path: string;
  source: string;
}

/** Everything the flags and the config file can say. Lists add up; scalars: last one wins. */
export interface ServerConfig {
  /** Driver modules to import before anything else (`--load`, `load` in the config file). */
  loads: LoadSpec[];
  endpoints: EndpointSpec[];
  /** Block nodes (`-blockdev`, `blockdevs` in the config file), opened in order. */
  blockdevs: BlockdevSpec[];
  devices: DeviceSpec[];
  monitors: MonitorSpec[];
  trace: boolean | undefined;
  /** Refuse DMA_MAP fds not sealed against shrinking (F_SEAL_SHRINK); default off. */
  requireSealedDmaFds: boolean | undefined;
  /** Resource caps set (`--cap`, `caps` in the config file), by their config-file names. */
  caps: Record<string, number>;
  /** `--trace-file`: pcapng capture of every message. */
  traceFile: string | undefined;
  /** `--trace-file-size`: rotate the capture at this many MiB. */
  traceFileSizeMib: number | undefined;
  logLevel: LogLevel | undefined;
  /** Where the embedded default set puts its sockets. */
  runtimeDir: string | undefined;
}

/** A driver module to load: a file path or an installed package name. */
export interface LoadSpec {
  /** As given: `./doorbell.js`, `/abs/x.js`, `@acme/vfu-devices`. */
  module: string;
  /** Relative paths and package names resolve from here (cwd, or the config file's directory). */
  baseDir: string;
  /** Where it was given, for messages: `--load #1`, `$.load[0]`. */
  source: string;
}

/** An empty configuration. */
export function emptyConfig(): ServerConfig {
  return {
    loads: [],
    endpoints: [],
    blockdevs: [],
    devices: [],
    monitors: [],
    trace: undefined,
    requireSealedDmaFds: undefined,
    caps: {},
    traceFile: undefined,
    traceFileSizeMib: undefined,
    logLevel: undefined,
    runtimeDir: undefined,
  };
}

/** Appends `extra` to `base`: lists concatenate, scalars of `extra` win when set. */
export function mergeConfig(base: ServerConfig, extra: ServerConfig): ServerConfig {
  return {
    loads: [...base.loads, ...extra.loads],
    endpoints: [...base.endpoints, ...extra.endpoints],
    blockdevs: [...base.blockdevs, ...extra.blockdevs],
    devices: [...base.devices, ...extra.devices],
    monitors: [...base.monitors, ...extra.monitors],
    trace: extra.trace ?? base.trace,
    requireSealedDmaFds: extra.requireSealedDmaFds ?? base.requireSealedDmaFds,
    caps: { ...base.caps, ...extra.caps },
    traceFile: extra.traceFile ?? base.traceFile,
    traceFileSizeMib: extra.traceFileSizeMib ?? base.traceFileSizeMib,
    logLevel: extra.logLevel ?? base.logLevel,
    runtimeDir: extra.runtimeDir ?? base.runtimeDir,
  };
}

/** Whether the configuration names anything to serve (otherwise the embedded defaults apply). */
export function servesAnything(config: ServerConfig): boolean {
  return config.endpoints.length > 0 || config.devices.length > 0;
}
