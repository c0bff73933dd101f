/**
 * The device tree: any number of parentless root buses (one per served PCI root complex), lookup
 * by id and path across all of them, `device_add`/`device_del` with QEMU's rules, reset and an
 * `info qtree`-style dump. No global instance: create as many trees as needed.
 */
import { QdevError } from '../errors';
import type { Bus, Device, ResetKind } from './device';
import { parseDeviceOptions } from './properties';
import { DeviceTypeRegistry } from './registry';

/** `device_add` arguments: `driver`, optional `id` and `bus`, everything else a property. */
export interface DeviceAddOptions {
  driver: string;
  id?: string | undefined;
  bus?: string | undefined;
  [property: string]: unknown;
}

/** Result of {@link DeviceTree.deviceDel}: removed now, or a guest-cooperative unplug started. */
export type UnplugOutcome = 'removed' | 'requested';

/** Options for a {@link DeviceTree}. */
export interface DeviceTreeOptions {
  /** Where `deviceAdd` finds drivers (a fresh empty registry by default). */
  registry?: DeviceTypeRegistry;
}

/** A forest of root buses and their devices. */
export class DeviceTree {
  readonly registry: DeviceTypeRegistry;
  readonly #rootBuses: Bus[] = [];
  #initDone = false;

  constructor(opts: DeviceTreeOptions = {}) {
    this.registry = opts.registry ?? new DeviceTypeRegistry();
  }

  /** The root buses, in the order they were added. */
  get rootBuses(): readonly Bus[] {
    return this.#rootBuses;
  }

  /**
   * Whether machine initialisation is complete (QEMU's `qdev_hotplug`): from then on adding a
   * device is a hotplug and needs a hotpluggable bus and class.
   */
  get initDone(): boolean {
    return this.#initDone;
  }

  /** Marks machine initialisation complete; later `deviceAdd` calls are hotplugs. */
  completeInit(): void {
    this.#initDone = true;
  }

  /** Adds a parentless root bus; its id must be unique among all buses of the tree. */
  addRootBus(bus: Bus): void {
    if (bus.parent !== undefined) {
      throw new QdevError('duplicate-bus', `bus '${bus.id}' has a parent device and cannot be a root bus`, {
        busId: bus.id,
      });
    }
    if (this.findBus(bus.id) !== undefined || this.#rootBuses.includes(bus)) {
      throw new QdevError('duplicate-bus', `a bus with id '${bus.id}' already exists`, { busId: bus.id });
    }
    this.#rootBuses.push(bus);
  }

  /** Removes a root bus after unrealizing and detaching every device on it. */
  removeRootBus(bus: Bus): void {
    const i = this.#rootBuses.indexOf(bus);
    if (i < 0)
      throw new QdevError('bus-not-found', `'${bus.id}' is not a root bus of this tree`, { busId: bus.id });
    for (const dev of [...bus.children].reverse()) this.#remove(dev);
    this.#rootBuses.splice(i, 1);
    bus.destroy();
  }

  /** Every bus, depth-first from each root bus in order. */
  *buses(): Generator<Bus> {
    for (const root of this.#rootBuses) yield* walkBuses(root);
  }

  /** Every device, depth-first. */
  *devices(): Generator<Device> {
    for (const bus of this.buses()) yield* bus.children;
  }

  /** The bus with this id, anywhere in the tree. */
  findBus(id: string): Bus | undefined {
    for (const bus of this.buses()) if (bus.id === id) return bus;
    return undefined;
  }

  /** The device with this id, on any root bus. */
  findDevice(id: string): Device | undefined {
    for (const dev of this.devices()) if (dev.id === id) return dev;
    return undefined;
  }

  /** Like {@link findDevice} but throws `device-not-found`. */
  getDevice(id: string): Device {
    const dev = this.findDevice(id);
    if (dev === undefined)
      throw new QdevError('device-not-found', `device '${id}' not found`, { deviceId: id });
    return dev;
  }

  /**
   * Resolves `/<root-bus-id>/<device>[/<child-bus>/<device>...]` (device = id, or `driver[n]`
   * for an anonymous one) to a device or bus; a plain id (no leading `/`) is looked up as a device.
   */
  findByPath(path: string): Device | Bus | undefined {
    if (!path.startsWith('/')) return this.findDevice(path);
    const parts = path.split('/').filter((p) => p !== '');
    const [rootId, ...rest] = parts;
    let node: Device | Bus | undefined = this.#rootBuses.find((b) => b.id === rootId);
    for (const part of rest) {
      if (node === undefined) return undefined;
      if ('busTypes' in node) {
        const bus: Bus = node;
        node = bus.children.find((d) => d.pathName === part);
      } else {
        const dev: Device = node;
        node = dev.childBuses.find((b) => b.id === part);
      }
    }
    return node;
  }

  /**
   * QEMU `device_add`: creates the device from the registry, picks or checks its bus, plugs and
   * realizes it. With no `bus`, the device goes to the only bus that can take it; if several
   * can, `ambiguous-bus` lists them.
   */
  deviceAdd(opts: DeviceAddOptions): Device {
    const { driver, id, bus: busId, ...props } = opts;
    const cls = this.registry.get(driver);
    if (id !== undefined) this.#checkIdFree(id, driver);
    const bus = this.#chooseBus(cls.busType, driver, busId);
    const device = this.registry.create(driver, { id, props });
    this.plug(device, bus, { hotpluggable: cls.hotpluggable ?? true });
    return device;
  }

  /** `device_add` from QEMU `-device` syntax: `edu,id=e0,bus=s0,addr=04.0`. */
  deviceAddFromString(spec: string): Device {
    const { driver, options } = parseDeviceOptions(spec);
    return this.deviceAdd({ ...options, driver });
  }

  /**
   * Plugs an already created device into `bus` (a Bus or bus id) and realizes it, running the
   * bus's hotplug handler. Used by `deviceAdd` and by code that builds devices directly.
   */
  plug(device: Device, bus: Bus | string, opts: { hotpluggable?: boolean } = {}): void {
    const target = typeof bus === 'string' ? this.#getBus(bus, device.driver) : bus;
    if (!this.#contains(target)) {
      throw new QdevError('bus-not-found', `bus '${target.id}' is not part of this device tree`, {
        busId: target.id,
        driver: device.driver,
      });
    }
    if (device.id !== undefined) this.#checkIdFree(device.id, device.driver);
    const cls = this.registry.has(device.driver) ? this.registry.get(device.driver) : undefined;
    if (cls !== undefined && !target.accepts(cls.busType)) {
      throw new QdevError(
        'wrong-bus-type',
        `device '${device.driver}' needs a ${cls.busType} bus; bus '${target.id}' is ${target.busTypes.join('/')}`,
        { busId: target.id, driver: device.driver },
      );
    }
    const handler = target.hotplugHandler;
    if (this.#initDone) {
      if (handler === undefined) {
        throw new QdevError('not-hotpluggable', `bus '${target.id}' does not support hotplugging`, {
          busId: target.id,
          driver: device.driver,
        });
      }
      if (opts.hotpluggable === false || cls?.hotpluggable === false) {
        throw new QdevError('not-hotpluggable', `device '${device.driver}' does not support hotplugging`, {
          busId: target.id,
          driver: device.driver,
        });
      }
    }
    target.checkDevice(device);
    handler?.prePlug?.(device, target);
    target.attach(device);
    try {
      device.realize();
    } catch (e) {
      target.detach(device);
      throw e;
    }
    handler?.plug?.(device, target);
  }

  /**
   * QEMU `device_del`: needs a hotpluggable bus; runs the handler's `unplugRequest` (removal
   * completes when it calls back) or `unplug` then unrealizes and detaches at once.
   */
  deviceDel(idOrPath: string): UnplugOutcome {
    const node = this.findByPath(idOrPath);
    if (node === undefined || 'busTypes' in node) {
      throw new QdevError('device-not-found', `device '${idOrPath}' not found`, { deviceId: idOrPath });
    }
    const device: Device = node;
    const bus = device.parentBus as Bus;
    const handler = bus.hotplugHandler;
    const cls = this.registry.has(device.driver) ? this.registry.get(device.driver) : undefined;
    if (handler === undefined || cls?.hotpluggable === false) {
      throw new QdevError(
        'not-hotpluggable',
        handler === undefined
          ? `bus '${bus.id}' does not support hotplugging`
          : `device '${device.driver}' does not support hotplugging`,
        { busId: bus.id, driver: device.driver, ...(device.id === undefined ? {} : { deviceId: device.id }) },
      );
    }
    if (handler.unplugRequest !== undefined) {
      handler.unplugRequest(device, bus, () => {
        if (device.parentBus === bus) this.#remove(device);
      });
      return device.parentBus === bus ? 'requested' : 'removed';
    }
    handler.unplug?.(device, bus);
    this.#remove(device);
    return 'removed';
  }

  /** Resets every device on every root bus. */
  resetAll(kind: ResetKind): void {
    for (const bus of this.#rootBuses) bus.reset(kind);
  }

  /** `info qtree`-style dump of every root bus. */
  dumpQtree(): string {
    const out: string[] = [];
    const dumpBus = (bus: Bus, indent: string): void => {
      out.push(`${indent}bus: ${bus.id}`);
      out.push(`${indent}  type ${bus.busType}`);
      for (const line of bus.qtreeDetails()) out.push(`${indent}  ${line}`);
      for (const dev of bus.children) {
        out.push(`${indent}  dev: ${dev.driver}, id "${dev.id ?? ''}"`);
        for (const [name, def, value] of dev.propertyEntries) {
          if (value === undefined) continue;
          out.push(`${indent}    ${name} = ${def.format(value as never)}`);
        }
        for (const line of dev.qtreeDetails()) out.push(`${indent}    ${line}`);
        for (const child of dev.childBuses) dumpBus(child, `${indent}    `);
      }
    };
    for (const bus of this.#rootBuses) dumpBus(bus, '');
    return `${out.join('\n')}\n`;
  }

  #remove(device: Device): void {
    const bus = device.parentBus;
    if (device.realized) device.unrealize();
    bus?.detach(device);
  }

  #contains(bus: Bus): boolean {
    for (const b of this.buses()) if (b === bus) return true;
    return false;
  }

  #checkIdFree(id: string, driver: string): void {
    if (this.findDevice(id) !== undefined) {
      throw new QdevError('duplicate-id', `Duplicate device ID '${id}'`, { deviceId: id, driver });
    }
  }

  #getBus(busId: string, driver: string): Bus {
    const bus = busId.startsWith('/') ? this.findByPath(busId) : this.findBus(busId);
    if (bus === undefined || !('busTypes' in bus)) {
      const known = [...this.buses()].map((b) => b.id).join(', ');
      throw new QdevError('bus-not-found', `Bus '${busId}' not found (buses: ${known || 'none'})`, {
        busId,
        driver,
      });
    }
    return bus;
  }

  #chooseBus(busType: string, driver: string, busId: string | undefined): Bus {
    if (busId !== undefined) {
      const bus = this.#getBus(busId, driver);
      if (!bus.accepts(busType)) {
        throw new QdevError(
          'wrong-bus-type',
          `Bus '${bus.id}' is ${bus.busTypes.join('/')}, device '${driver}' needs ${busType}`,
          { busId: bus.id, driver },
        );
      }
      return bus;
    }
    const typed = [...this.buses()].filter((b) => b.accepts(busType));
    const free = typed.filter((b) => !b.full);
    if (free.length === 1) return free[0] as Bus;
    if (free.length > 1) {
      const candidates = free.map((b) => b.id);
      throw new QdevError(
        'ambiguous-bus',
        `device '${driver}' could go on any of ${candidates.length} ${busType} buses (${candidates.join(', ')}): name one with bus=`,
        { driver, candidates },
      );
    }
    if (typed.length > 0) {
      throw new QdevError('bus-full', `every ${busType} bus is full (${typed.map((b) => b.id).join(', ')})`, {
        driver,
        candidates: typed.map((b) => b.id),
      });
    }
    throw new QdevError('no-suitable-bus', `No '${busType}' bus found for device '${driver}'`, { driver });
  }
}

function* walkBuses(bus: Bus): Generator<Bus> {
  yield bus;
  for (const dev of bus.children) for (const child of dev.childBuses) yield* walkBuses(child);
}
