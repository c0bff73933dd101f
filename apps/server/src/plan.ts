/**
 * Validation of a whole configuration against the device registry before anything is created:
 * drivers exist, properties parse, ids are well formed and unique, every device has an endpoint
 * and socket paths are usable and distinct. Pure: no device is created and no file is touched,
 * so a bad flag never leaves half a server behind.
 */
import { isAbsolute, resolve } from 'node:path';
import {
  checkId,
  type DeviceAddOptions,
  type DeviceTypeRegistry,
  isQdevError,
  resolveProperties,
} from '@vfu/pci';
import type { ServerConfig } from './config';
import { AppError, errorMessage } from './errors';

/** Longest UNIX socket path (sun_path is 108 bytes with the terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** An endpoint to create. */
export interface EndpointPlan {
  id: string;
  /** Absolute socket path. */
  socketPath: string;
  source: string;
  /** Created by a device's `socket=` shorthand; removed with that device. */
  ownerDevice: string | undefined;
}

/** A device to add, with its endpoint resolved. */
export interface DevicePlan {
  /** What goes to `tree.deviceAdd` (`bus` always set). */
  options: DeviceAddOptions;
  source: string;
  /** Whether its endpoint comes from its `socket=` shorthand. */
  ownsEndpoint: boolean;
}

/** A monitor to open. */
export interface MonitorPlan {
  socketPath: string;
  source: string;
}

/** A validated configuration. */
export interface ServePlan {
  endpoints: EndpointPlan[];
  devices: DevicePlan[];
  monitors: MonitorPlan[];
}

/** What already runs (for monitor commands checked against the live server). */
export interface LiveState {
  endpointIds: readonly string[];
  deviceIds: readonly string[];
  socketPaths: readonly string[];
}

/** Options of {@link planServer}. */
export interface PlanOptions {
  registry: DeviceTypeRegistry;
  /** Relative socket paths are resolved against it. */
  cwd: string;
  live?: LiveState;
}

/**
 * Checks `config` and resolves it into a {@link ServePlan}. Throws {@link AppError}
 * `invalid-configuration` with the source (`-device #2`, `$.devices[1]`) and the reason.
 */
export function planServer(config: ServerConfig, opts: PlanOptions): ServePlan {
  const live = opts.live ?? { endpointIds: [], deviceIds: [], socketPaths: [] };
  const fail = (source: string, message: string, cause?: unknown): never => {
    throw new AppError(
      'invalid-configuration',
      `${source}: ${message}`,
      cause === undefined ? {} : { cause },
    );
  };
  const endpointIds = new Set(live.endpointIds);
  const deviceIds = new Set(live.deviceIds);
  const sockets = new Map<string, string>(live.socketPaths.map((p) => [p, 'a running endpoint or monitor']));
  const claimSocket = (path: string, source: string): string => {
    const abs = isAbsolute(path) ? path : resolve(opts.cwd, path);
    const bytes = Buffer.byteLength(abs);
    if (bytes > MAX_SOCKET_PATH_BYTES) {
      fail(
        source,
        `socket path is ${bytes} bytes, longer than the ${MAX_SOCKET_PATH_BYTES} a UNIX socket allows: ${abs}`,
      );
    }
    const holder = sockets.get(abs);
    if (holder !== undefined) fail(source, `socket path ${abs} is already used by ${holder}`);
    sockets.set(abs, source);
    return abs;
  };
  const checkWellFormed = (id: string, what: 'device' | 'bus', source: string): void => {
    try {
      checkId(id, what);
    } catch (e) {
      fail(source, errorMessage(e), e);
    }
  };

  const plan: ServePlan = { endpoints: [], devices: [], monitors: [] };
  for (const e of config.endpoints) {
    checkWellFormed(e.id, 'bus', e.source);
    if (endpointIds.has(e.id)) fail(e.source, `an endpoint with id '${e.id}' already exists`);
    endpointIds.add(e.id);
    plan.endpoints.push({
      id: e.id,
      socketPath: claimSocket(e.socket, e.source),
      source: e.source,
      ownerDevice: undefined,
    });
  }
  const explicitEndpoints = [...endpointIds];

  for (const d of config.devices) {
    let cls: ReturnType<DeviceTypeRegistry['get']>;
    try {
      cls = opts.registry.get(d.driver);
    } catch (e) {
      return fail(d.source, errorMessage(e), e);
    }
    if (d.id !== undefined) {
      checkWellFormed(d.id, 'device', d.source);
      if (deviceIds.has(d.id)) fail(d.source, `Duplicate device ID '${d.id}'`);
      deviceIds.add(d.id);
    }
    try {
      resolveProperties(cls.properties, d.props, d.driver);
    } catch (e) {
      if (!isQdevError(e)) throw e;
      fail(d.source, e.message, e);
    }
    let bus: string;
    let ownsEndpoint = false;
    if (d.socket !== undefined) {
      bus = nextEndpointId(endpointIds);
      endpointIds.add(bus);
      ownsEndpoint = true;
      plan.endpoints.push({
        id: bus,
        socketPath: claimSocket(d.socket, d.source),
        source: d.source,
        ownerDevice: d.id,
      });
    } else if (d.bus !== undefined) {
      if (!endpointIds.has(d.bus)) {
        fail(d.source, `Bus '${d.bus}' not found (endpoints: ${[...endpointIds].join(', ') || 'none'})`);
      }
      bus = d.bus;
    } else if (explicitEndpoints.length === 1) {
      bus = explicitEndpoints[0] as string;
    } else if (explicitEndpoints.length === 0) {
      return fail(
        d.source,
        `no endpoint to put '${d.driver}' on: add socket=PATH, or create one with -object vfio-user-server,id=ID,socket=PATH and give bus=ID`,
      );
    } else {
      return fail(d.source, `name the endpoint with bus= (one of ${explicitEndpoints.join(', ')})`);
    }
    plan.devices.push({
      options: { ...d.props, driver: d.driver, ...(d.id === undefined ? {} : { id: d.id }), bus },
      source: d.source,
      ownsEndpoint,
    });
  }
  for (const m of config.monitors) {
    plan.monitors.push({ socketPath: claimSocket(m.path, m.source), source: m.source });
  }
  return plan;
}

/** The first `sN` not taken: the id given to endpoints created by the `socket=` shorthand. */
export function nextEndpointId(taken: ReadonlySet<string>): string {
  for (let n = 0; ; n++) if (!taken.has(`s${n}`)) return `s${n}`;
}
