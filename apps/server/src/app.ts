/**
 * The running server: a DeviceTree whose root buses are vfio-user endpoints, the devices on them,
 * and the operations the command line and the monitor perform (add/remove endpoints and devices,
 * queries, introspection, device properties). Every change is validated first, then applied; a failed
 * change is rolled back and leaves the other endpoints serving.
 */
import { resolve } from 'node:path';
import { BlockNodeRegistry, parseBlockdevOptions } from '@vfu/block';
import { dumpFlatView, dumpMemoryTree } from '@vfu/memory';
import { type Device, type DeviceTree, formatDevfn, PciDevice, type PciRootBus, regs } from '@vfu/pci';
import { ConnectionBudget, type TraceEvent, VfioUserServer, type VfioUserServerOptions } from '@vfu/server';
import { type CapSettings, effectiveCaps, type ResolvedCaps, resolveCaps } from './caps';
import { emptyConfig } from './config';
import { AppError, errorMessage } from './errors';
import { type AppLogger, type LineSink, PROGRAM } from './logger';
import type { MonitorBackend, QomPropertyInfo } from './monitor/commands';
import { QmpError } from './monitor/qmp';
import { type DevicePlan, type EndpointPlan, planServer, type ServePlan } from './plan';
import { claimSocketPath } from './socket-path';
import { deviceFromOptions, endpointFromOptions } from './specs';

/** Options of {@link ServerApp}. */
export interface ServerAppOptions {
  tree: DeviceTree;
  /** Block nodes for `drive=` (`-blockdev`, monitor `blockdev-add`); default: an empty registry. */
  blockNodes?: BlockNodeRegistry;
  logger: AppLogger;
  /** Where endpoint lines go (stdout): one per endpoint that starts serving a device. */
  announce: LineSink;
  /** Where `--trace` lines go (stderr); undefined: no tracing. */
  trace: LineSink | undefined;
  /** Every endpoint refuses DMA_MAP fds not sealed against shrinking (`--require-sealed-dma-fds`). */
  requireSealedDmaFds?: boolean;
  /** Resource caps (`--cap`, `caps` in the config file); unset ones keep their defaults. */
  caps?: CapSettings;
  /** Taps for the connections of each endpoint (`--trace-file`); undefined: no capture. */
  capture?: (endpoint: string, socketPath: string) => NonNullable<VfioUserServerOptions['tapConnection']>;
  /** Relative socket paths given on the monitor resolve against it. */
  cwd: string;
  version: string;
  /** Asked to stop the program (monitor `quit`). */
  onQuit: () => void;
  /** Monitor events (`DEVICE_DELETED`...). */
  onEvent?: (event: string, data: object) => void;
}

interface Endpoint {
  readonly server: VfioUserServer;
  readonly socketPath: string;
  /** The device whose `socket=` shorthand created this endpoint (removed together). */
  ownerDevice: Device | undefined;
}

/** The server's state and operations. */
export class ServerApp implements MonitorBackend {
  readonly version: string;
  readonly tree: DeviceTree;
  readonly #opts: ServerAppOptions;
  #ownBlockNodes: BlockNodeRegistry | undefined;
  readonly #endpoints = new Map<string, Endpoint>();
  /** Serialises changes, so two monitor clients cannot interleave halves of theirs. */
  #changes: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #caps: ResolvedCaps;
  /** Refused connections held across all endpoints. */
  readonly #connectionBudget: ConnectionBudget;

  constructor(opts: ServerAppOptions) {
    this.#opts = opts;
    this.tree = opts.tree;
    this.version = opts.version;
    this.#caps = resolveCaps(opts.caps ?? {});
    this.#connectionBudget = new ConnectionBudget({ maxPending: this.#caps.maxPendingConnectionsTotal });
  }

  /** Endpoint ids, in creation order. */
  get endpointIds(): string[] {
    return [...this.#endpoints.keys()];
  }

  /** Endpoints with the socket each listens on. */
  endpoints(): { id: string; socketPath: string; device: Device | undefined }[] {
    return [...this.#endpoints].map(([id, e]) => ({
      id,
      socketPath: e.socketPath,
      device: servedDevice(e.server.bus),
    }));
  }

  /**
   * Applies a validated plan: creates the endpoints and their devices, then starts listening, so
   * no client ever finds a device missing. On any failure everything the plan created is closed
   * again and the error rethrown.
   */
  apply(plan: ServePlan): Promise<void> {
    return this.#serialised(() => this.#apply(plan));
  }

  async #apply(plan: ServePlan): Promise<void> {
    const created: Endpoint[] = [];
    const added: Device[] = [];
    try {
      for (const e of plan.endpoints) created.push(this.#createEndpoint(e));
      for (const d of plan.devices) {
        const busId = d.options.bus as string;
        const endpoint = this.#endpoints.get(busId);
        if (endpoint?.server.connected === true) {
          throw new AppError(
            'command-failed',
            `endpoint '${busId}' is serving a client; add devices to an endpoint before a client connects`,
          );
        }
        const device = this.#addDevice(d);
        added.push(device);
        if (d.ownsEndpoint && endpoint !== undefined) endpoint.ownerDevice = device;
      }
      for (const e of created) await this.#startEndpoint(e);
    } catch (e) {
      for (const device of added.reverse()) {
        if (device.parentBus !== undefined) this.#removeDeviceNow(device);
      }
      for (const endpoint of created.reverse()) await this.#closeEndpoint(endpoint);
      throw e;
    }
    const announced = new Set<string>();
    for (const e of created) announced.add(e.server.id);
    for (const d of plan.devices) announced.add(d.options.bus as string);
    for (const id of announced) this.#announce(id);
  }

  #createEndpoint(plan: EndpointPlan): Endpoint {
    const { logger, trace } = this.#opts;
    const onTrace =
      trace === undefined
        ? undefined
        : (e: TraceEvent) => {
            trace.write(`${PROGRAM}: trace: ${e.endpoint} ${e.direction} ${e.text}\n`);
            if (e.detail !== undefined && logger.level === 'debug') {
              trace.write(`${e.detail.replace(/^/gm, '    ')}\n`);
            }
          };
    let server: VfioUserServer;
    try {
      server = new VfioUserServer({
        id: plan.id,
        socketPath: plan.socketPath,
        tree: this.tree,
        logger,
        requireSealedDmaFds: this.#opts.requireSealedDmaFds === true,
        connectionCaps: this.#caps.connection,
        limits: this.#caps.limits,
        connectionBudget: this.#connectionBudget,
        ...(onTrace === undefined ? {} : { onTrace }),
        ...(this.#opts.capture === undefined
          ? {}
          : { tapConnection: this.#opts.capture(plan.id, plan.socketPath) }),
      });
    } catch (e) {
      throw new AppError('startup-failed', `${plan.source}: endpoint '${plan.id}': ${errorMessage(e)}`, {
        cause: e,
      });
    }
    // Devices on an endpoint come and go through the monitor: removal is immediate (the client,
    // if any, was disconnected first), so the handler has nothing to veto.
    server.bus.hotplugHandler ??= {};
    const endpoint: Endpoint = { server, socketPath: plan.socketPath, ownerDevice: undefined };
    this.#endpoints.set(plan.id, endpoint);
    server.on('client-connected', () => {
      this.#opts.onEvent?.('VFIO_USER_CLIENT_CONNECTED', { endpoint: plan.id });
    });
    server.on('client-disconnected', () => {
      this.#opts.onEvent?.('VFIO_USER_CLIENT_DISCONNECTED', { endpoint: plan.id });
    });
    return endpoint;
  }

  async #startEndpoint(endpoint: Endpoint): Promise<void> {
    await claimSocketPath(endpoint.socketPath, `endpoint ${endpoint.server.id}`);
    try {
      await endpoint.server.start();
    } catch (e) {
      throw new AppError(
        (e as { code?: unknown }).code === 'socket-in-use' ? 'socket-in-use' : 'startup-failed',
        `endpoint ${endpoint.server.id}: ${errorMessage(e)}`,
        { socketPath: endpoint.socketPath, cause: e },
      );
    }
  }

  async #closeEndpoint(endpoint: Endpoint): Promise<void> {
    const id = endpoint.server.id;
    const devices = endpoint.server.bus.children.map((d) => ({
      ...(d.id === undefined ? {} : { device: d.id }),
      path: d.path,
    }));
    try {
      await endpoint.server.close();
    } catch (e) {
      this.#opts.logger.error('closing endpoint failed', { endpoint: id, error: e });
    }
    this.#endpoints.delete(id);
    for (const d of devices) this.#opts.onEvent?.('DEVICE_DELETED', d);
  }

  #addDevice(plan: DevicePlan): Device {
    try {
      return this.tree.deviceAdd(plan.options);
    } catch (e) {
      throw new AppError('startup-failed', `${plan.source}: ${errorMessage(e)}`, { cause: e });
    }
  }

  #removeDeviceNow(device: Device): void {
    const path = device.path;
    this.tree.deviceDel(path);
  }

  #announce(endpointId: string): void {
    const endpoint = this.#endpoints.get(endpointId);
    if (endpoint === undefined) return;
    const device = servedDevice(endpoint.server.bus);
    const what =
      device === undefined ? 'device none' : `device ${device.id ?? device.path} (${device.driver})`;
    this.#opts.announce.write(
      `${PROGRAM}: endpoint ${endpointId} ${what} listening on ${endpoint.socketPath}\n`,
    );
  }

  #live() {
    const socketPaths = [...this.#endpoints.values()].map((e) => e.socketPath);
    const deviceIds: string[] = [];
    for (const d of this.tree.devices()) if (d.id !== undefined) deviceIds.push(d.id);
    return { endpointIds: this.endpointIds, deviceIds, socketPaths: [...socketPaths, ...this.#extraSockets] };
  }

  /** Monitor socket paths, so endpoints added later cannot take them. */
  #extraSockets: string[] = [];

  /** Registers socket paths in use outside the endpoints (the monitors). */
  reserveSocketPaths(paths: readonly string[]): void {
    this.#extraSockets.push(...paths);
  }

  // ---- monitor operations ----

  deviceAdd(args: Record<string, unknown>): Promise<void> {
    const config = emptyConfig();
    config.devices.push(deviceFromOptions(args, 'device_add', commandFailure('device_add')));
    return this.#serialised(() =>
      this.#apply(
        planServer(config, { registry: this.tree.registry, cwd: this.#opts.cwd, live: this.#live() }),
      ),
    );
  }

  deviceDel(id: string): Promise<void> {
    return this.#serialised(async () => {
      const node = this.tree.findByPath(id);
      if (node === undefined || !('driver' in node)) {
        throw new QmpError('DeviceNotFound', `Device '${id}' not found`);
      }
      const device = node as Device;
      const endpoint = [...this.#endpoints.values()].find((e) => e.server.bus === rootBusOf(device));
      if (endpoint?.ownerDevice === device) {
        // The shorthand's endpoint exists for this device only: it goes too.
        await this.#closeEndpoint(endpoint);
        return;
      }
      if (endpoint?.server.connected === true && servedDevice(endpoint.server.bus) === device) {
        this.#opts.logger.info('disconnecting the client of a removed device', {
          endpoint: endpoint.server.id,
          device: id,
        });
        await endpoint.server.disconnect();
      }
      const deleted = { ...(device.id === undefined ? {} : { device: device.id }), path: device.path };
      this.tree.deviceDel(device.path);
      this.#opts.onEvent?.('DEVICE_DELETED', deleted);
    });
  }

  objectAdd(args: Record<string, unknown>): Promise<void> {
    const config = emptyConfig();
    config.endpoints.push(endpointFromOptions(args, 'object-add', commandFailure('object-add')));
    return this.#serialised(() =>
      this.#apply(
        planServer(config, { registry: this.tree.registry, cwd: this.#opts.cwd, live: this.#live() }),
      ),
    );
  }

  objectDel(id: string): Promise<void> {
    return this.#serialised(async () => {
      const endpoint = this.#endpoints.get(id);
      if (endpoint === undefined) {
        throw new AppError(
          'command-failed',
          `object '${id}' not found (endpoints: ${this.endpointIds.join(', ') || 'none'})`,
        );
      }
      await this.#closeEndpoint(endpoint);
    });
  }

  queryDevices(): unknown {
    const out: object[] = [];
    for (const [endpointId, e] of this.#endpoints) {
      for (const d of e.server.bus.children) {
        out.push({
          ...(d.id === undefined ? {} : { id: d.id }),
          driver: d.driver,
          path: d.path,
          endpoint: endpointId,
          socket: e.socketPath,
          ...(d instanceof PciDevice ? { addr: formatDevfn(d.devfn) } : {}),
          served: servedDevice(e.server.bus) === d,
        });
      }
    }
    return out;
  }

  queryEndpoints(): unknown {
    return [...this.#endpoints].map(([id, e]) => {
      const device = servedDevice(e.server.bus);
      return {
        id,
        socket: e.socketPath,
        connected: e.server.connected,
        ...(device === undefined ? {} : { device: device.id ?? device.path, driver: device.driver }),
        stats: e.server.stats(),
        caps: effectiveCaps(this.#opts.caps ?? {}),
        usage: {
          dmaRegions: e.server.dmaMappings.length,
          dmaBytesMapped: Number(e.server.dmaMappings.reduce((sum, d) => sum + d.size, 0n)),
          pendingConnections: e.server.refusedConnections.pending,
          pendingConnectionsTotal: this.#connectionBudget.pending,
          refusedConnections: e.server.refusedConnections.total,
        },
      };
    });
  }

  queryPci(): unknown {
    return [...this.#endpoints].map(([id, e]) => ({
      bus: 0,
      endpoint: id,
      devices: e.server.bus.functions
        .filter((d): d is PciDevice & typeof d => d instanceof PciDevice)
        .map(pciInfo),
    }));
  }

  infoMtree(opts: { flat: boolean; bus: string | undefined }): string {
    const selected = [...this.#endpoints].filter(([id]) => opts.bus === undefined || id === opts.bus);
    if (selected.length === 0) {
      throw new QmpError(
        'GenericError',
        opts.bus === undefined
          ? 'no endpoint'
          : `no endpoint '${opts.bus}' (endpoints: ${this.endpointIds.join(', ') || 'none'})`,
      );
    }
    const out: string[] = [];
    for (const [id, e] of selected) {
      const bus = e.server.bus;
      out.push(`endpoint ${id} (${e.socketPath}):`);
      if (opts.flat) {
        out.push(
          dumpFlatView(bus.memoryAddressSpace),
          dumpFlatView(bus.ioAddressSpace),
          dumpFlatView(bus.dmaAddressSpace),
        );
      } else {
        out.push(
          `address-space: ${bus.memoryAddressSpace.name}`,
          dumpMemoryTree(bus.memorySpace),
          `address-space: ${bus.ioAddressSpace.name}`,
          dumpMemoryTree(bus.ioSpace),
          `address-space: ${bus.dmaAddressSpace.name}`,
          dumpMemoryTree(bus.dmaRoot),
        );
      }
    }
    return out.join('\n');
  }

  infoQtree(): string {
    return this.tree.dumpQtree();
  }

  qomList(path: string): QomPropertyInfo[] {
    const device = this.#qomDevice(path);
    const settable = device.propertyEntries.map(([name, def]) => ({
      name,
      type: def.typeName,
      description: def.description,
      settable: device.isPropertySettable(name),
    }));
    const status = device.statusProperties().map((p) => ({
      name: p.name,
      type: p.typeName,
      description: p.description,
      settable: false,
    }));
    return [...settable, ...status];
  }

  qomGet(path: string, property: string): unknown {
    const device = this.#qomDevice(path);
    const status = device.statusProperties().find((p) => p.name === property);
    if (status !== undefined) return status.get();
    const value = device.getProperty(property);
    if (value === undefined) {
      throw new QmpError('GenericError', `Property '${property}' not found on '${path}' (${device.driver})`);
    }
    return value;
  }

  qomSet(path: string, property: string, value: unknown): void {
    const device = this.#qomDevice(path);
    if (device.statusProperties().some((p) => p.name === property)) {
      throw new QmpError(
        'GenericError',
        `Property '${property}' of '${path}' (${device.driver}) is read-only`,
      );
    }
    try {
      device.setProperty(property, value);
    } catch (e) {
      throw new QmpError('GenericError', errorMessage(e));
    }
  }

  /** A device by id, qdev path or QEMU's `/machine/peripheral/ID`. */
  #qomDevice(path: string): Device {
    const id = path.startsWith('/machine/peripheral/') ? path.slice('/machine/peripheral/'.length) : path;
    const node = this.tree.findByPath(id);
    if (node === undefined || !('driver' in node))
      throw new QmpError('DeviceNotFound', `Device '${path}' not found`);
    return node;
  }

  quit(): void {
    this.#opts.onQuit();
  }

  /** `blockdev-add`: opens a block node (QEMU's BlockdevOptions: driver, node-name, ...). */
  async blockdevAdd(args: Record<string, unknown>): Promise<void> {
    try {
      const options = parseBlockdevOptions(args) as { driver: string; filename?: string };
      const resolved =
        options.driver === 'file' && typeof options.filename === 'string'
          ? { ...options, filename: resolve(this.#opts.cwd, options.filename) }
          : options;
      await this.#blockNodes.add(resolved as Parameters<BlockNodeRegistry['add']>[0]);
    } catch (e) {
      throw commandFailure('blockdev-add')(errorMessage(e));
    }
  }

  /** `blockdev-del`: closes a node no device uses. */
  async blockdevDel(nodeName: string): Promise<void> {
    try {
      await this.#blockNodes.del(nodeName);
    } catch (e) {
      throw commandFailure('blockdev-del')(errorMessage(e));
    }
  }

  /** `query-block`: the nodes devices use. */
  queryBlock(): unknown {
    return this.#blockNodes.queryBlock();
  }

  /** `query-named-block-nodes`: every node. */
  queryNamedBlockNodes(): unknown {
    return this.#blockNodes.queryNamedBlockNodes();
  }

  get #blockNodes(): BlockNodeRegistry {
    if (this.#ownBlockNodes === undefined)
      this.#ownBlockNodes = this.#opts.blockNodes ?? new BlockNodeRegistry();
    return this.#ownBlockNodes;
  }

  /** Closes every endpoint (sockets removed, devices unrealized). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#serialised(async () => {
      for (const endpoint of [...this.#endpoints.values()].reverse()) await this.#closeEndpoint(endpoint);
    }).catch(() => {});
  }

  #serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#changes.then(fn, fn);
    this.#changes = run.catch(() => {});
    return run;
  }
}

function commandFailure(command: string) {
  return (message: string): never => {
    throw new AppError('invalid-command', `${command}: ${message}`, { command });
  };
}

/** The device an endpoint serves: the function at devfn 0, else the only device on the bus. */
function servedDevice(bus: PciRootBus): Device | undefined {
  const at0 = bus.deviceAt(0);
  if (at0 !== undefined) return at0;
  return bus.children.length === 1 ? bus.children[0] : undefined;
}

function rootBusOf(device: Device): unknown {
  let bus = device.parentBus;
  while (bus?.parent?.parentBus !== undefined) bus = bus.parent.parentBus;
  return bus;
}

/** One device in QEMU's `query-pci` shape. */
function pciInfo(d: PciDevice): object {
  const cfg = (offset: number, size: 1 | 2 | 4) => d.configRead(offset, size);
  const pin = cfg(regs.PCI_INTERRUPT_PIN, 1);
  return {
    bus: 0,
    slot: d.devfn >> 3,
    function: d.devfn & 7,
    class_info: { class: cfg(regs.PCI_CLASS_DEVICE, 2) },
    id: {
      vendor: cfg(regs.PCI_VENDOR_ID, 2),
      device: cfg(regs.PCI_DEVICE_ID, 2),
      'subsystem-vendor': cfg(regs.PCI_SUBSYSTEM_VENDOR_ID, 2),
      subsystem: cfg(regs.PCI_SUBSYSTEM_ID, 2),
    },
    ...(pin === 0 ? {} : { irq: cfg(regs.PCI_INTERRUPT_LINE, 1), irq_pin: pin }),
    qdev_id: d.id ?? '',
    regions: d.regions().map((r) => ({
      bar: r.index,
      type: r.kind === 'io' ? 'io' : 'memory',
      address: r.bar.mappedAddress ?? -1,
      size: r.size,
      ...(r.kind === 'io' ? {} : { prefetch: r.prefetchable, mem_type_64: r.kind === 'mem64' }),
    })),
  };
}
