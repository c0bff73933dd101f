import {
  type DeviceClass,
  type DeviceTypeRegistry,
  definePciDeviceClass,
  type PropertySchema,
} from '@vfu/pci';
import { DeviceError } from '../errors';
import type { ZooContext } from './context';
import { EduPciDevice, eduProperties } from './edu-pci';
import { PciIdio16Device, pciIdio16Properties } from './pci-idio-16-pci';
import { PciSerialDevice, pciSerialProperties } from './pci-serial';
import { PciTestdevPciDevice, pciTestdevProperties } from './pci-testdev-pci';

/** Device types of the zoo, by `-device` name. */
export type ZooDeviceType = 'edu' | 'pci-testdev' | 'pci-serial' | 'pci-idio-16';

/** Every zoo device type, in the order `registerZooDevices` registers them by default. */
export const DEFAULT_ZOO_DEVICES: readonly ZooDeviceType[] = Object.freeze([
  'edu',
  'pci-testdev',
  'pci-serial',
  'pci-idio-16',
]);

/** Options of {@link registerZooDevices}. */
export interface RegisterZooOptions extends ZooContext {
  /** Register only these types (default: {@link DEFAULT_ZOO_DEVICES}). */
  only?: readonly ZooDeviceType[];
}

/** The device class of one zoo type, bound to `context` (what `-device <name>` creates). */
export function zooDeviceClass(type: ZooDeviceType, context: ZooContext = {}): DeviceClass {
  switch (type) {
    case 'edu':
      return definePciDeviceClass({
        name: 'edu',
        description: 'QEMU educational PCI device (1234:11e8)',
        category: 'Misc devices',
        properties: eduProperties,
        create: (init) => new EduPciDevice(init, context),
      }) as unknown as DeviceClass;
    case 'pci-testdev':
      return definePciDeviceClass({
        name: 'pci-testdev',
        description: 'PCI Test Device (1b36:0005)',
        category: 'Misc devices',
        properties: pciTestdevProperties,
        create: (init) => new PciTestdevPciDevice(init, context),
      }) as unknown as DeviceClass;
    case 'pci-serial':
      return definePciDeviceClass({
        name: 'pci-serial',
        description: 'PCI 16550A serial adapter (1b36:0002)',
        category: 'Input devices',
        properties: pciSerialProperties,
        create: (init) => new PciSerialDevice(init, context),
      }) as unknown as DeviceClass;
    case 'pci-idio-16':
      return definePciDeviceClass({
        name: 'pci-idio-16',
        description: 'ACCES PCI-IDIO-16 isolated digital I/O (494f:0dc8)',
        category: 'Misc devices',
        properties: pciIdio16Properties,
        create: (init) => new PciIdio16Device(init, context),
      }) as unknown as DeviceClass;
    default:
      throw new DeviceError('unknown-device-type', `no zoo device type '${String(type)}'`, {
        deviceType: String(type),
      });
  }
}

/**
 * Register the zoo's device types (`edu`, `pci-testdev`, `pci-serial`, `pci-idio-16`) in
 * `registry`, so `-device edu,...` and `device_add` can create them. `options` supplies the shared
 * clock and log and the `-chardev` id table; `only` narrows the set. Throws the registry's error
 * when a name is already registered.
 */
export function registerZooDevices(registry: DeviceTypeRegistry, options: RegisterZooOptions = {}): void {
  const { only, ...context } = options;
  for (const type of only ?? DEFAULT_ZOO_DEVICES) {
    registry.register(zooDeviceClass(type, context) as DeviceClass<PropertySchema>);
  }
}
