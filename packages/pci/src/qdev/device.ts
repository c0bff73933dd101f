/**
 * qdev nodes: `Device` and `Bus`. As in QEMU, a bus holds child devices and a device may own child
 * buses; unlike QEMU there is no single main system bus: a `DeviceTree` holds any number of
 * parentless root buses (one per served PCI root complex).
 */
import { QdevError } from '../errors';
import {
  type PropertyDef,
  type PropertySchema,
  type PropertyValue,
  type PropertyValues,
  parseProperty,
} from './properties';

/** What a device class's `create` receives: its driver name, optional id and parsed properties. */
export interface DeviceInit<S extends PropertySchema = PropertySchema> {
  /** Driver (device type) name, e.g. `edu`. */
  readonly driver: string;
  /** User-visible id, unique in the tree; `undefined` for anonymous devices. */
  readonly id: string | undefined;
  /** The class's property schema (used by `setProperty` and `info qtree`). */
  readonly schema: S;
  /** Parsed property values (defaults filled in). */
  readonly props: PropertyValues<S>;
}

/** A property the host may read and change while the device is realized. */
export interface RuntimeProperty {
  get(): PropertyValue;
  set(value: PropertyValue): void;
}

/** A read-only value a running device shows (see {@link Device.statusProperties}). */
export interface StatusProperty {
  readonly name: string;
  /** Type name as help prints it, e.g. `uint16`. */
  readonly typeName: string;
  readonly description: string;
  get(): PropertyValue;
}

/** Cold reset = power-on state (QEMU's hard reset); warm reset = a device/bus reset while powered. */
export type ResetKind = 'cold' | 'warm';

/**
 * Callbacks a bus owner installs to take part in (hot)plugging; a bus with a handler is
 * hotpluggable (QEMU `HotplugHandler`). `prePlug` may throw to refuse a device.
 */
export interface HotplugHandler {
  prePlug?(device: Device, bus: Bus): void;
  plug?(device: Device, bus: Bus): void;
  /**
   * Guest-cooperative removal (e.g. attention button): the handler starts it and calls `complete`
   * once the guest has released the device. Without it, `unplug` runs and removal is immediate.
   */
  unplugRequest?(device: Device, bus: Bus, complete: () => void): void;
  unplug?(device: Device, bus: Bus): void;
}

const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/** Checks a device or bus id the way QEMU's `id_wellformed` does. */
export function checkId(id: string, what: 'device' | 'bus'): void {
  if (!ID_PATTERN.test(id)) {
    throw new QdevError(
      'invalid-id',
      `${what} id '${id}' is not well-formed: it must start with a letter and contain only letters, digits, '-', '.', '_'`,
      what === 'device' ? { deviceId: id } : { busId: id },
    );
  }
}

/**
 * A device in the tree. Subclasses implement `onRealize`/`onUnrealize` (symmetric: unrealize
 * releases everything realize took, in reverse) and `onReset`.
 */
export abstract class Device {
  /** Driver (device type) name. */
  readonly driver: string;
  /** User-visible id, or `undefined` for an anonymous device. */
  readonly id: string | undefined;
  readonly #schema: PropertySchema;
  readonly #props: Record<string, PropertyValue>;
  readonly #childBuses: Bus[] = [];
  #parentBus: Bus | undefined;
  #realized = false;
  /** Set by the bus when plugged: the QEMU `BusChild.index`, used to name anonymous devices. */
  busIndex = -1;

  constructor(init: DeviceInit) {
    if (init.id !== undefined) checkId(init.id, 'device');
    this.driver = init.driver;
    this.id = init.id;
    this.#schema = init.schema;
    this.#props = { ...(init.props as Record<string, PropertyValue>) };
  }

  /** The bus this device is plugged into. */
  get parentBus(): Bus | undefined {
    return this.#parentBus;
  }

  /** Whether realize has completed (and unrealize not yet run). */
  get realized(): boolean {
    return this.#realized;
  }

  /** Buses this device owns (bridges, controllers). */
  get childBuses(): readonly Bus[] {
    return this.#childBuses;
  }

  /** Name used in paths and dumps: the id, or `driver[index]` for an anonymous device. */
  get pathName(): string {
    return this.id ?? `${this.driver}[${this.busIndex}]`;
  }

  /** Path `/<root-bus-id>/<device>[/<child-bus>/<device>...]`. */
  get path(): string {
    const bus = this.#parentBus;
    return bus === undefined ? `/${this.pathName}` : `${bus.path}/${this.pathName}`;
  }

  /** A property's current value (a runtime property reads the device's live value). */
  getProperty(name: string): PropertyValue | undefined {
    const live = this.#realized ? this.runtimeProperty(name) : undefined;
    return live === undefined ? this.#props[name] : live.get();
  }

  /** Whether `name` can be set now: any property before realize, runtime ones afterwards. */
  isPropertySettable(name: string): boolean {
    return name in this.#schema && (!this.#realized || this.runtimeProperty(name) !== undefined);
  }

  /**
   * Values the device shows while running that the host may read but not set (QEMU's read-only
   * QOM properties, e.g. the output levels of a GPIO card), by name.
   */
  statusProperties(): ReadonlyArray<StatusProperty> {
    return [];
  }

  /**
   * The getter/setter of a property the host may change while the device runs (QEMU's QOM
   * properties with a setter, e.g. GPIO input levels); `undefined` for static properties.
   */
  protected runtimeProperty(_name: string): RuntimeProperty | undefined {
    return undefined;
  }

  /** All properties with their definitions, for help and dumps. */
  get propertyEntries(): ReadonlyArray<readonly [string, PropertyDef, PropertyValue | undefined]> {
    return Object.entries(this.#schema).map(([name, def]) => [name, def, this.#props[name]] as const);
  }

  /**
   * Sets a property from a string or JSON value. Like QEMU static properties, only allowed
   * before realize (`property-locked` afterwards), except runtime properties, which the device
   * applies at once.
   */
  setProperty(name: string, input: unknown): void {
    const live = this.#realized ? this.runtimeProperty(name) : undefined;
    if (live !== undefined) {
      const value = parseProperty(this.#schema, name, input, this.driver);
      live.set(value);
      this.#props[name] = value;
      return;
    }
    if (this.#realized) {
      throw new QdevError(
        'property-locked',
        `cannot set '${name}' on realized device '${this.pathName}' (${this.driver})`,
        { driver: this.driver, property: name, ...(this.id === undefined ? {} : { deviceId: this.id }) },
      );
    }
    this.#props[name] = parseProperty(this.#schema, name, input, this.driver);
  }

  /** Registers a child bus owned by this device (call from the constructor, as QEMU's instance_init). */
  protected addChildBus(bus: Bus): void {
    bus.attachToParent(this);
    this.#childBuses.push(bus);
  }

  /** Realizes the device: runs `onRealize` once; plugging into a bus through a DeviceTree calls it. */
  realize(): void {
    if (this.#realized) {
      throw new QdevError('already-realized', `device '${this.pathName}' is already realized`, this.#ctx());
    }
    this.onRealize();
    this.#realized = true;
  }

  /** Unrealizes child buses' devices (deepest first), then this device. */
  unrealize(): void {
    if (!this.#realized) {
      throw new QdevError('not-realized', `device '${this.pathName}' is not realized`, this.#ctx());
    }
    for (const bus of [...this.#childBuses].reverse()) {
      for (const child of [...bus.children].reverse()) if (child.realized) child.unrealize();
    }
    this.onUnrealize();
    this.#realized = false;
  }

  /** Resets the device, then the devices on its child buses. */
  reset(kind: ResetKind): void {
    this.onReset(kind);
    for (const bus of this.#childBuses) bus.reset(kind);
  }

  /** Device-specific realize; may throw to refuse (nothing must be left half set up). */
  protected onRealize(): void {}
  /** Releases what `onRealize` took, in reverse order. */
  protected onUnrealize(): void {}
  /** Returns registers to their reset values. */
  protected onReset(_kind: ResetKind): void {}

  /** Extra lines for `info qtree` (e.g. PCI address, BARs). */
  qtreeDetails(): string[] {
    return [];
  }

  /** @internal Called by a Bus when the device is attached or detached. */
  setParentBus(bus: Bus | undefined): void {
    this.#parentBus = bus;
  }

  #ctx() {
    return { driver: this.driver, ...(this.id === undefined ? {} : { deviceId: this.id }) };
  }
}

/** Options for a {@link Bus}. */
export interface BusOptions {
  /** Bus id (name), e.g. `s0` or `pcie.0`; unique within a DeviceTree. */
  id: string;
  /**
   * Bus types this bus satisfies, most specific first, e.g. `['PCIE', 'PCI']`: a device class
   * whose `busType` is in the list may plug here.
   */
  busTypes: readonly string[];
  /** Maximum number of children; 0 = unlimited (QEMU `BusClass.max_dev`). */
  maxDevices?: number;
  hotplugHandler?: HotplugHandler;
}

/** A bus: holds child devices, checks they fit, resets them, optionally handles hotplug. */
export class Bus {
  readonly id: string;
  readonly busTypes: readonly string[];
  readonly maxDevices: number;
  /** Present iff the bus is hotpluggable. */
  hotplugHandler: HotplugHandler | undefined;
  #parent: Device | undefined;
  readonly #children: Device[] = [];
  #nextIndex = 0;

  constructor(opts: BusOptions) {
    checkId(opts.id, 'bus');
    if (opts.busTypes.length === 0) throw new TypeError('a bus needs at least one bus type');
    this.id = opts.id;
    this.busTypes = opts.busTypes;
    this.maxDevices = opts.maxDevices ?? 0;
    this.hotplugHandler = opts.hotplugHandler;
  }

  /** The most specific bus type, shown by `info qtree`. */
  get busType(): string {
    return this.busTypes[0] as string;
  }

  /** Owning device; `undefined` for a root bus. */
  get parent(): Device | undefined {
    return this.#parent;
  }

  get children(): readonly Device[] {
    return this.#children;
  }

  /** Path of this bus: `/<id>` for a root bus, `<parent device path>/<id>` otherwise. */
  get path(): string {
    return this.#parent === undefined ? `/${this.id}` : `${this.#parent.path}/${this.id}`;
  }

  /** Whether the bus can take no further device with an automatically chosen address. */
  get full(): boolean {
    return this.maxDevices > 0 && this.#children.length >= this.maxDevices;
  }

  /** Whether devices of class bus type `busType` may plug here. */
  accepts(busType: string): boolean {
    return this.busTypes.includes(busType);
  }

  /**
   * Checks the device fits (address free, bus not full) before it is attached; throws a
   * QdevError/PciError otherwise. Subclasses extend it (PCI: devfn).
   */
  checkDevice(device: Device): void {
    if (this.full) {
      throw new QdevError('bus-full', `bus '${this.id}' is full (${this.maxDevices} devices)`, {
        busId: this.id,
        driver: device.driver,
      });
    }
  }

  /** @internal Attaches a device (DeviceTree does this after `checkDevice`). */
  attach(device: Device): void {
    if (device.parentBus !== undefined) {
      throw new QdevError(
        'already-plugged',
        `device '${device.pathName}' is already on bus '${device.parentBus.id}'`,
        {
          busId: this.id,
          driver: device.driver,
        },
      );
    }
    device.busIndex = this.#nextIndex++;
    this.#children.push(device);
    device.setParentBus(this);
  }

  /** @internal Detaches a device. */
  detach(device: Device): void {
    const i = this.#children.indexOf(device);
    if (i < 0) return;
    this.#children.splice(i, 1);
    device.setParentBus(undefined);
  }

  /** @internal Called when a device adopts this bus as a child bus. */
  attachToParent(device: Device): void {
    if (this.#parent !== undefined) {
      throw new QdevError('already-plugged', `bus '${this.id}' already belongs to a device`, {
        busId: this.id,
      });
    }
    this.#parent = device;
  }

  /** Resets every device on the bus (QEMU `bus_cold_reset`/`qbus_reset_all`). */
  reset(kind: ResetKind): void {
    for (const child of this.#children) if (child.realized) child.reset(kind);
  }

  /** Extra lines for `info qtree` under `bus:`. */
  qtreeDetails(): string[] {
    return [];
  }

  /** Releases what the bus itself holds (address spaces...); called when a root bus is removed. */
  destroy(): void {}
}
