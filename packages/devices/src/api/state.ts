/**
 * Saved device state as a @vfu/vmstate stream of two sections: `pci`, the guest-visible PCI part
 * that the framework declares once for every device, then the device's own section, declared by
 * its definition's `state` (a schema and the mapping between the core and the schema's value).
 * Loading parses and checks the whole stream, then the PCI part against this device's layout, then
 * the device's own checks, and only then applies anything: a refused stream leaves the device as
 * it was.
 */
import type { PciSavedState } from '@vfu/pci';
import {
  defineVmState,
  loadVmStream,
  saveVmStream,
  VmStateError,
  type VmStateSchema,
  type VmStateValue,
  vm,
} from '@vfu/vmstate';

// biome-ignore lint/suspicious/noExplicitAny: a schema of any shape, as @vfu/vmstate's own.
export type AnyVmStateSchema = VmStateSchema<any, any>;

/** The PCI part of every device's state (QEMU's `vmstate_pci_device` with `vmstate_msix`). */
export const pciVmState = defineVmState({
  name: 'pci',
  version: 1,
  fields: {
    /** Whole config space: BAR placement, Command, MSI address/data/masks/pending bits. */
    config: vm.bytes({ maxLength: 4096 }),
    intxLevel: vm.bool(),
  },
  subsections: {
    msix: {
      version: 1,
      fields: { table: vm.bytes({ maxLength: 2048 * 16 }), pba: vm.bytes({ maxLength: 256 }) },
    },
  },
});

/**
 * A device's own state: a schema (its section name, version, oldest loadable version, fields),
 * and how the core maps to and from the schema's value.
 */
export interface DeviceStateSpec<D, Sc extends AnyVmStateSchema = AnyVmStateSchema> {
  readonly schema: Sc;
  /** The core's state as the schema's value (copies, not views of live buffers). */
  save(core: D): VmStateValue<Sc>;
  /**
   * Checks that need the core (limits from its properties, backend size...); returns a reason to
   * refuse, naming the field. Runs after the schema's own checks, before anything is applied.
   */
  check?(core: D, value: VmStateValue<Sc>): string | undefined;
  /** Applies a value that passed every check; must not fail. */
  load(core: D, value: VmStateValue<Sc>): void;
}

/** Declares a device's state with the core's type and the schema's value type checked. */
export function deviceState<D, Sc extends AnyVmStateSchema>(
  spec: DeviceStateSpec<D, Sc>,
): DeviceStateSpec<D> {
  return spec as unknown as DeviceStateSpec<D>;
}

/** What the framework needs from the PCI function around a core. */
export interface PciStateHost {
  savePciState(): PciSavedState;
  checkPciState(saved: PciSavedState): string | undefined;
  loadPciState(saved: PciSavedState): void;
}

/** Saves the PCI part and the device's part as one stream. */
export function saveDeviceStream<D>(pci: PciStateHost, spec: DeviceStateSpec<D>, core: D): Uint8Array {
  const p = pci.savePciState();
  return saveVmStream([
    {
      schema: pciVmState,
      value: {
        config: p.config,
        intxLevel: p.intxLevel,
        ...(p.msix === undefined ? {} : { subsections: { msix: p.msix } }),
      },
    },
    { schema: spec.schema, value: spec.save(core) },
  ]);
}

/**
 * Checks all of `data` (stream, PCI part against this device, the device's checks), then applies
 * the PCI part and the device's part. Throws {@link VmStateError} naming the section and field;
 * nothing is applied then.
 */
export function loadDeviceStream<D>(
  pci: PciStateHost,
  spec: DeviceStateSpec<D>,
  core: D,
  data: Uint8Array,
): void {
  const [pciValue, deviceValue] = loadVmStream(data, [pciVmState, spec.schema]) as [
    VmStateValue<typeof pciVmState>,
    VmStateValue<AnyVmStateSchema>,
  ];
  const msix = pciValue.subsections?.msix;
  const saved: PciSavedState = {
    config: pciValue.config,
    intxLevel: pciValue.intxLevel,
    msix: msix === undefined ? undefined : { table: msix.table, pba: msix.pba },
  };
  const pciReason = pci.checkPciState(saved);
  if (pciReason !== undefined) {
    throw new VmStateError('bad-value', `pci: ${pciReason}`, {
      section: 'pci',
      field: `pci.${pciReason.split(':')[0]}`,
    });
  }
  const reason = spec.check?.(core, deviceValue);
  if (reason !== undefined) {
    const name = spec.schema.name;
    throw new VmStateError('bad-value', `${name}: ${reason}`, {
      section: name,
      field: `${name}.${reason.split(':')[0]}`,
    });
  }
  pci.loadPciState(saved);
  spec.load(core, deviceValue);
}
