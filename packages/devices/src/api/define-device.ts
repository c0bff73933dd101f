/**
 * A whole PCI device in one declaration: identity, typed properties, BARs, capabilities and the
 * lifecycle hooks around a device core that only sees a {@link DeviceContext}.
 *
 * ```ts
 * export const doorbell = defineDevice({
 *   name: 'doorbell',
 *   description: 'rings MSI vector 0 on a write to 0x0',
 *   identity: { vendorId: 0x1234, deviceId: 0x1ee7, classCode: 0xff0000 },
 *   create: (ctx) => new Doorbell(ctx),
 *   bars: (d) => [{ index: 0, kind: 'mem32', registers: d.regs }],
 *   capabilities: { msi: { vectors: 1 } },
 * });
 * ```
 */
import { MemoryRegion, type MemoryRegionOps } from '@vfu/memory';
import {
  type DeviceClass,
  type DeviceTypeRegistry,
  definePciDeviceClass,
  type MsiOptions,
  type PciCommonProperties,
  PciDevice,
  type PciDeviceInit,
  type PcieOptions,
  type PmOptions,
  type PropertySchema,
  type PropertyValue,
  type PropertyValues,
  type ResetKind,
  type RuntimeProperty,
  resolveProperties,
  type StatusProperty,
} from '@vfu/pci';
import { DeviceError } from '../errors';
import {
  type DetachedContextOptions,
  type DeviceContext,
  detachedContext,
  type HostContext,
  pciContext,
} from './context';
import type { RegisterBank } from './register-bank';
import { type DeviceStateSpec, loadDeviceStream, saveDeviceStream } from './state';

/** QEMU's default subsystem ids (`pci_default_sub_vendor_id` 0x1af4, `pci_default_sub_device_id` 0x1100). */
export const DEFAULT_SUBSYSTEM_VENDOR_ID = 0x1af4;
export const DEFAULT_SUBSYSTEM_ID = 0x1100;

/** Identity of a PCI function, as its config header shows it. */
export interface DeviceIdentity {
  vendorId: number;
  deviceId: number;
  /** 24-bit class code: base class << 16 | sub-class << 8 | prog-if. */
  classCode: number;
  /** Default 0. */
  revision?: number;
  /** Default 0x1af4, as QEMU. */
  subsystemVendorId?: number;
  /** Default 0x1100, as QEMU. */
  subsystemId?: number;
  /** 1-4 = INTA-INTD, 0 = none (default 1). */
  interruptPin?: number;
  /** PCI Express function with 4 KiB config space (default false). */
  express?: boolean;
}

/** What backs a BAR. */
export type BarContents<D> =
  /** A register table bound to the core: the whole MMIO/PIO implementation. */
  | { registers: RegisterBank<D> }
  /** Plain RAM of this many bytes. */
  | { ram: number | bigint }
  /** MMIO/PIO callbacks of this many bytes (a core with its own `read`/`write`). */
  | { ops: MemoryRegionOps; size: number | bigint }
  /** Any region the device built (containers with overlays, async regions...). */
  | { region: MemoryRegion };

/** One BAR of the device. */
export type BarSpec<D> = {
  /** 0-5. */
  index: number;
  kind: 'io' | 'mem32' | 'mem64';
  prefetchable?: boolean;
} & BarContents<D>;

/** MSI-X placement: table and PBA in BARs the device declares, or a BAR of their own. */
export type MsixSpec =
  | {
      vectors: number;
      tableBar: number;
      tableOffset: number;
      pbaBar: number;
      pbaOffset: number;
      offset?: number;
    }
  | { vectors: number; exclusiveBar: number; offset?: number };

/** Capabilities, added in the order given (config-space offsets follow it unless set). */
export interface CapabilitySpec {
  pm?: PmOptions;
  msi?: MsiOptions;
  msix?: MsixSpec;
  pcie?: PcieOptions;
}

/** A property the host may change while the device runs (`qom-set`, e.g. GPIO input levels). */
export interface RuntimePropertySpec<D, T> {
  get(core: D): T;
  set(core: D, value: T): void;
}

/** A read-only value of a running device (QEMU read-only QOM property). */
export interface StatusPropertySpec<D> {
  /** Type name as help prints it, e.g. `uint16`. */
  typeName: string;
  description: string;
  get(core: D): PropertyValue;
}

/** Value type of property definition `P[K]`. */
type ValueOf<S extends PropertySchema, K extends keyof S> = PropertyValues<S>[K];

/**
 * Everything about a device type, in one object. `D` is the device core's type, inferred from
 * `create`: write `create` before the hooks that take the core, so TypeScript sees it first.
 */
export interface DeviceDefinition<S extends PropertySchema, D> {
  /** `-device` name. */
  name: string;
  /** One line for `-device help`. */
  description: string;
  /** `-device help` category (default `Misc devices`). */
  category?: string;
  hotpluggable?: boolean;
  identity: DeviceIdentity;
  /** Device-specific properties (the common PCI ones are added). */
  properties?: S;
  /** Properties the host may read and set at run time, by name. */
  runtime?: { [K in keyof S]?: RuntimePropertySpec<D, ValueOf<S, K>> };
  /** Read-only values the host can query while the device runs (`qom-get`), by name. */
  status?: Readonly<Record<string, StatusPropertySpec<D>>>;
  /** Builds the core; runs when the device is created, before realize. */
  create(ctx: DeviceContext<PropertyValues<S & PciCommonProperties>>): D;
  /** BARs, registered at realize. */
  bars?(core: D, ctx: DeviceContext<PropertyValues<S & PciCommonProperties>>): readonly BarSpec<D>[];
  /** Expansion ROM contents (QEMU `romfile`), exposed unless `rombar=0`. */
  rom?(core: D, ctx: DeviceContext<PropertyValues<S & PciCommonProperties>>): Uint8Array | undefined;
  /** Capabilities, added at realize after the BARs. */
  capabilities?:
    | CapabilitySpec
    | ((ctx: DeviceContext<PropertyValues<S & PciCommonProperties>>) => CapabilitySpec);
  /** After BARs and capabilities are in place (open backends, start threads...); may throw to refuse. */
  realize?(core: D, ctx: DeviceContext<PropertyValues<S & PciCommonProperties>>): void;
  /** Releases what realize took. */
  unrealize?(core: D): void;
  /** Device reset, after the PCI core reset config space and capabilities. */
  reset?(core: D, kind: ResetKind): void;
  /** The device's own state for migration and restarts (see `deviceState`); without it the device cannot migrate. */
  state?: DeviceStateSpec<D>;
}

/** A registrable device type, whatever its core: what driver modules and the zoo export. */
export interface AnyDeviceType {
  readonly name: string;
  readonly description: string;
  /** The qdev class of this type, bound to `host` (clock, log, chardevs). */
  deviceClass(host?: HostContext): DeviceClass;
  /** Registers the type in `registry`; throws `duplicate-driver` on a name clash. */
  register(registry: DeviceTypeRegistry, host?: HostContext): void;
}

/** What {@link defineDevice} returns. */
export interface DeviceType<S extends PropertySchema, D> extends AnyDeviceType {
  readonly definition: DeviceDefinition<S, D>;
  /** Whether `device` is an instance of this type (narrows to its core's type). */
  is(device: unknown): device is DefinedPciDevice<S, D>;
  /** A core outside PCI, for unit tests: properties from strings or values, defaults filled in. */
  createCore(props?: Readonly<Record<string, unknown>>, options?: DetachedContextOptions): D;
}

/**
 * A PCI function built from a {@link DeviceDefinition}: the framework registers the BARs, ROM and
 * capabilities and calls the hooks; `core` is the device model.
 */
export class DefinedPciDevice<S extends PropertySchema, D> extends PciDevice {
  readonly core: D;
  readonly context: DeviceContext<PropertyValues<S & PciCommonProperties>>;
  readonly definition: DeviceDefinition<S, D>;

  constructor(definition: DeviceDefinition<S, D>, init: PciDeviceInit<S>, host: HostContext) {
    const id = definition.identity;
    super(init, {
      ...id,
      subsystemVendorId: id.subsystemVendorId ?? DEFAULT_SUBSYSTEM_VENDOR_ID,
      subsystemId: id.subsystemId ?? DEFAULT_SUBSYSTEM_ID,
    });
    this.definition = definition;
    this.context = pciContext(definition.name, init.props, this, host);
    this.core = definition.create(this.context);
  }

  /** Why this device cannot be migrated or survive a restart (QEMU's migration blocker), or undefined. */
  get migrationBlocker(): string | undefined {
    return this.definition.state === undefined ? `${this.driver} declares no saved state` : undefined;
  }

  /** The device's state as a @vfu/vmstate stream: the PCI part, then the device's own section. */
  saveState(): Uint8Array {
    return saveDeviceStream(this, this.#stateSpec(), this.core);
  }

  /**
   * Loads a stream saved by {@link saveState}; every part is checked before anything is applied.
   * Throws `VmStateError` naming the section and field (the device is unchanged then).
   */
  loadState(data: Uint8Array): void {
    loadDeviceStream(this, this.#stateSpec(), this.core, data);
  }

  protected override realizePci(): void {
    const def = this.definition;
    const ctx = this.context;
    for (const bar of def.bars?.(this.core, ctx) ?? []) {
      this.registerBar(bar.index, {
        kind: bar.kind,
        ...(bar.prefetchable === undefined ? {} : { prefetchable: bar.prefetchable }),
        region: this.#barRegion(bar),
      });
    }
    const rom = def.rom?.(this.core, ctx);
    if (rom !== undefined) {
      const size = 2 ** Math.max(11, Math.ceil(Math.log2(Math.max(rom.length, 1))));
      const backing = new Uint8Array(size);
      backing.set(rom);
      this.registerRom(MemoryRegion.rom(`${this.driver}.rom`, BigInt(size), { backing, owner: this }));
    }
    const caps = typeof def.capabilities === 'function' ? def.capabilities(ctx) : (def.capabilities ?? {});
    for (const [kind, spec] of Object.entries(caps)) {
      if (spec === undefined) continue;
      if (kind === 'pm') this.pmInit(caps.pm);
      else if (kind === 'msi') this.msiInit(caps.msi);
      else if (kind === 'pcie') this.pcieInit(caps.pcie);
      else if (kind === 'msix' && caps.msix !== undefined) {
        const m = caps.msix;
        if ('exclusiveBar' in m) this.msixInitExclusiveBar(m.vectors, m.exclusiveBar, m.offset ?? 0);
        else this.msixInit(m);
      }
    }
    def.realize?.(this.core, ctx);
  }

  protected override unrealizePci(): void {
    this.definition.unrealize?.(this.core);
  }

  protected override resetPci(kind: ResetKind): void {
    this.definition.reset?.(this.core, kind);
  }

  protected override runtimeProperty(name: string): RuntimeProperty | undefined {
    const runtime: Readonly<Record<string, RuntimePropertySpec<D, PropertyValue> | undefined>> | undefined =
      this.definition?.runtime;
    const spec = runtime?.[name];
    if (spec === undefined) return undefined;
    return { get: () => spec.get(this.core), set: (value) => spec.set(this.core, value) };
  }

  override statusProperties(): StatusProperty[] {
    return Object.entries(this.definition.status ?? {}).map(([name, spec]) => ({
      name,
      typeName: spec.typeName,
      description: spec.description,
      get: () => spec.get(this.core),
    }));
  }

  #barRegion(bar: BarSpec<D>): MemoryRegion {
    const name = `${this.driver}-bar${bar.index}`;
    if ('registers' in bar) return bar.registers.region(name, this);
    if ('ram' in bar) return MemoryRegion.ram(name, BigInt(bar.ram), { owner: this });
    if ('ops' in bar) return MemoryRegion.io(name, BigInt(bar.size), bar.ops, { owner: this });
    return bar.region;
  }

  #stateSpec(): DeviceStateSpec<D> {
    const spec = this.definition.state;
    if (spec === undefined) {
      throw new DeviceError('invalid-state', `${this.driver}: this device type has no saved state`, {
        deviceType: this.driver,
      });
    }
    return spec;
  }
}

/** Turns a definition into a registrable device type. */
export function defineDevice<S extends PropertySchema = Record<never, never>, D = unknown>(
  definition: DeviceDefinition<S, D>,
): DeviceType<S, D> {
  const deviceClass = (host: HostContext = {}) =>
    definePciDeviceClass<S>({
      name: definition.name,
      description: definition.description,
      category: definition.category ?? 'Misc devices',
      ...(definition.hotpluggable === undefined ? {} : { hotpluggable: definition.hotpluggable }),
      ...(definition.properties === undefined ? {} : { properties: definition.properties }),
      create: (init) => new DefinedPciDevice(definition, init, host),
    });
  return {
    name: definition.name,
    description: definition.description,
    definition,
    deviceClass,
    register: (registry, host = {}) => registry.register(deviceClass(host)),
    is: (device): device is DefinedPciDevice<S, D> =>
      device instanceof DefinedPciDevice && device.definition === definition,
    createCore: (props = {}, options = {}) => {
      const schema = deviceClass().properties;
      const values = resolveProperties(schema, props, definition.name);
      return definition.create(detachedContext(definition.name, values, options));
    },
  };
}

/** Registers every type of `types` in `registry` with one host context. */
export function registerDeviceTypes(
  registry: DeviceTypeRegistry,
  types: readonly AnyDeviceType[],
  host: HostContext = {},
): void {
  for (const type of types) type.register(registry, host);
}
