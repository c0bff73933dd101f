/**
 * What a PCI device type declares (QEMU `PCIDeviceClass`): its identity, the properties every PCI
 * function has (`addr`, `multifunction`, `rombar`, the x-pci-* id overrides), and
 * {@link definePciDeviceClass}, which turns a constructor into a registrable `DeviceClass`.
 */
import { hex } from './errors';
import { formatDevfn, PCI_DEVFN_MAX } from './pci-bus';
import type { PciDevice } from './pci-device';
import type { DeviceInit } from './qdev/device';
import { type PropertySchema, prop } from './qdev/properties';
import type { DeviceClass } from './qdev/registry';

/** What a device class says about itself (QEMU `PCIDeviceClass` fields). */
export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  /** 24-bit class code: base class << 16 | sub-class << 8 | prog-if. */
  classCode: number;
  revision?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 1-4 = INTA-INTD, 0 = no INTx (default 1). */
  interruptPin?: number;
  /** PCI Express function: 4 KiB config space (default false). */
  express?: boolean;
}

/** QEMU's "any id" value for the x-pci-* override properties: keep the class's id. */
export const PCI_ANY_ID = 0xffffffff;

const DEVFN_SYNTAX = /^([0-9a-f]{1,2})(?:\.([0-7]))?$/i;

/** `addr` property: `slot[.fn]` in hex (QEMU `addr=04.0`), a devfn number, or -1/`auto`. */
export const devfnProperty = prop.custom<number>({
  typeName: 'int32',
  description: 'Slot and optional function number, example: 06.0 or 06',
  default: -1,
  parse(input) {
    if (typeof input === 'number') {
      if (!Number.isInteger(input) || input < -1 || input >= PCI_DEVFN_MAX) {
        throw new RangeError(`devfn ${input} out of range -1..255`);
      }
      return input;
    }
    if (typeof input !== 'string') throw new TypeError(`expected slot.fn, got ${typeof input}`);
    const s = input.trim();
    if (s === 'auto' || s === '-1') return -1;
    const m = DEVFN_SYNTAX.exec(s);
    if (m === null) throw new TypeError(`'${input}' is not a PCI address (slot[.fn], hex, e.g. 04.0)`);
    const slot = Number.parseInt(m[1] as string, 16);
    if (slot > 0x1f) throw new RangeError(`slot ${hex(slot)} out of range (0x00-0x1f)`);
    return (slot << 3) | Number(m[2] ?? 0);
  },
  format: (v) => (v < 0 ? '-1' : formatDevfn(v)),
});

const idOverride = (what: string) =>
  prop.uint32({
    default: PCI_ANY_ID,
    description: `override the ${what} (0-0xffff; 0xffffffff keeps the class value)`,
  });

/** Properties every PCI device has (QEMU `pci_props` subset plus the vfio-pci id overrides). */
export const pciCommonProperties = {
  addr: devfnProperty,
  multifunction: prop.bool({ default: false, description: 'set the multi-function bit in the header type' }),
  rombar: prop.uint32({ default: 1, description: 'expose the option ROM as a BAR (0 = hide it)' }),
  'x-pci-vendor-id': idOverride('vendor ID'),
  'x-pci-device-id': idOverride('device ID'),
  'x-pci-sub-vendor-id': idOverride('subsystem vendor ID'),
  'x-pci-sub-device-id': idOverride('subsystem ID'),
} as const;

/** Schema type of {@link pciCommonProperties}. */
export type PciCommonProperties = typeof pciCommonProperties;

/** What a PCI device constructor receives. */
export type PciDeviceInit<S extends PropertySchema = PropertySchema> = DeviceInit<S & PciCommonProperties>;

/** Definition accepted by {@link definePciDeviceClass}. */
export interface PciDeviceClassDefinition<S extends PropertySchema> {
  name: string;
  description: string;
  category?: string;
  hotpluggable?: boolean;
  /** Device-specific properties; the common PCI ones are added. */
  properties?: S;
  create(init: PciDeviceInit<S>): PciDevice;
}

/** Builds a registrable DeviceClass for a PCI device type (bus type `PCI`, common PCI properties). */
export function definePciDeviceClass<S extends PropertySchema = Record<never, never>>(
  def: PciDeviceClassDefinition<S>,
): DeviceClass<S & PciCommonProperties> {
  const properties = { ...pciCommonProperties, ...(def.properties ?? {}) } as S & PciCommonProperties;
  return {
    name: def.name,
    description: def.description,
    busType: 'PCI',
    properties,
    ...(def.category === undefined ? {} : { category: def.category }),
    ...(def.hotpluggable === undefined ? {} : { hotpluggable: def.hotpluggable }),
    create: (init) => def.create(init),
  };
}
