/**
 * The device zoo: every device type of this package, as one list. Applications register it with
 * {@link registerZooDevices} (or pick types from {@link ZOO_DEVICES}); adding a device to the zoo
 * is adding its type to the list.
 */
import type { DeviceTypeRegistry } from '@vfu/pci';
import type { HostContext } from './api/context';
import { type AnyDeviceType, registerDeviceTypes } from './api/define-device';
import { eduDevice } from './edu';
import { DeviceError } from './errors';
import { nvme } from './nvme/nvme';
import { pciIdio16Device } from './pci-idio-16';
import { pciSerialDevice } from './pci-serial';
import { pciTestdevDevice } from './pci-testdev';

/** Every zoo device type, in registration order. */
export const ZOO_DEVICES: readonly AnyDeviceType[] = Object.freeze([
  eduDevice,
  pciTestdevDevice,
  pciSerialDevice,
  pciIdio16Device,
  nvme,
]);

/** The zoo's `-device` names, in registration order. */
export const DEFAULT_ZOO_DEVICES: readonly string[] = Object.freeze(ZOO_DEVICES.map((t) => t.name));

/** Options of {@link registerZooDevices}. */
export interface RegisterZooOptions extends HostContext {
  /** Register only these types, by name (default: all of {@link ZOO_DEVICES}). */
  only?: readonly string[];
}

/**
 * Registers the zoo's device types in `registry`, bound to the shared clock, log and `-chardev`
 * table of `options`. Throws `unknown-device-type` for a name in `only` that the zoo lacks, and
 * the registry's `duplicate-driver` when a name is taken.
 */
export function registerZooDevices(registry: DeviceTypeRegistry, options: RegisterZooOptions = {}): void {
  const { only, ...host } = options;
  for (const name of only ?? []) {
    if (!DEFAULT_ZOO_DEVICES.includes(name)) {
      throw new DeviceError('unknown-device-type', `no zoo device type '${name}'`, { deviceType: name });
    }
  }
  const types = only === undefined ? ZOO_DEVICES : ZOO_DEVICES.filter((t) => only.includes(t.name));
  registerDeviceTypes(registry, types, host);
}
