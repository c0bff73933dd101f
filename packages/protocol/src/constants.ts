/** vfio-pci region indices (`VFIO_PCI_*_REGION_INDEX`); indices from 9 are device specific. */
export enum VfioPciRegion {
  Bar0 = 0,
  Bar1 = 1,
  Bar2 = 2,
  Bar3 = 3,
  Bar4 = 4,
  Bar5 = 5,
  Rom = 6,
  Config = 7,
  Vga = 8,
}

/** `VFIO_PCI_NUM_REGIONS`: the fixed vfio-pci regions; device-specific ones follow. */
export const VFIO_PCI_NUM_REGIONS = 9;

/** vfio-pci IRQ indices (`VFIO_PCI_*_IRQ_INDEX`). */
export enum VfioPciIrq {
  Intx = 0,
  Msi = 1,
  Msix = 2,
  Err = 3,
  Req = 4,
}

/** `VFIO_PCI_NUM_IRQS`. */
export const VFIO_PCI_NUM_IRQS = 5;

/** Short names of the vfio-pci regions, for traces. */
export function vfioPciRegionName(index: number): string {
  return index <= VfioPciRegion.Vga && index >= 0
    ? (VfioPciRegion[index] ?? String(index)).toUpperCase()
    : `#${index}`;
}

/** Short names of the vfio-pci IRQ indices, for traces. */
export function vfioPciIrqName(index: number): string {
  return ['INTx', 'MSI', 'MSI-X', 'ERR', 'REQ'][index] ?? `#${index}`;
}

/** `VFIO_DEVICE_FLAGS_*` in the DEVICE_GET_INFO reply. */
export const DeviceInfoFlags = { Reset: 1 << 0, Pci: 1 << 1 } as const;

/** `VFIO_REGION_INFO_FLAG_*` in the DEVICE_GET_REGION_INFO reply. */
export const RegionInfoFlags = { Read: 1 << 0, Write: 1 << 1, Mmap: 1 << 2, Caps: 1 << 3 } as const;

/** Region-info capability ids (`VFIO_REGION_INFO_CAP_*`). */
export const RegionCapId = {
  SparseMmap: 1,
  Type: 2,
  MsixMappable: 3,
  Nvlink2Ssatgt: 4,
  Nvlink2Lnkspd: 5,
} as const;

/** Region types of the TYPE capability (`VFIO_REGION_TYPE_*`). */
export const RegionType = {
  /** OR with a PCI vendor id: vendor-specific type. */
  PciVendorType: 0x8000_0000,
  PciVendorMask: 0xffff,
  Gfx: 1,
  Ccw: 2,
  MigrationDeprecated: 3,
} as const;

/** `VFIO_IRQ_INFO_*` in the DEVICE_GET_IRQ_INFO reply. */
export const IrqInfoFlags = {
  Eventfd: 1 << 0,
  Maskable: 1 << 1,
  Automasked: 1 << 2,
  NoResize: 1 << 3,
} as const;

/** `VFIO_IRQ_SET_*` bits of DEVICE_SET_IRQS `flags`. */
export const IrqSetFlags = {
  DataNone: 1 << 0,
  DataBool: 1 << 1,
  DataEventfd: 1 << 2,
  DataTypeMask: 0x07,
  ActionMask: 1 << 3,
  ActionUnmask: 1 << 4,
  ActionTrigger: 1 << 5,
  ActionTypeMask: 0x38,
} as const;

/** DMA_MAP `flags`. READ/WRITE are the spec's; MMAP and FILE_IO are libvfio-user extensions. */
export const DmaMapFlags = { Read: 1 << 0, Write: 1 << 1, Mmap: 1 << 2, FileIo: 1 << 3 } as const;

/**
 * DMA_UNMAP `flags`. The spec calls the field unused, but QEMU's client sends ALL and
 * libvfio-user implements ALL and the legacy GET_DIRTY_BITMAP.
 */
export const DmaUnmapFlags = { GetDirtyBitmap: 1 << 0, All: 1 << 1 } as const;

/** Sub-region types of DEVICE_GET_REGION_IO_FDS; type 2 is libvfio-user's shadow ioeventfd. */
export const IoFdType = { Ioeventfd: 0, Ioregionfd: 1, IoeventfdShadow: 2 } as const;

/** Feature indices of DEVICE_FEATURE (`VFIO_DEVICE_FEATURE_*`). */
export const DeviceFeatureIndex = {
  PciVfToken: 0,
  Migration: 1,
  MigDeviceState: 2,
  DmaLoggingStart: 6,
  DmaLoggingStop: 7,
  DmaLoggingReport: 8,
} as const;

/** DEVICE_FEATURE `flags` bits above the 16-bit feature index. */
export const DeviceFeatureFlags = { Mask: 0xffff, Get: 1 << 16, Set: 1 << 17, Probe: 1 << 18 } as const;

/** `VFIO_MIGRATION_*` bits of the MIGRATION feature. */
export const MigrationFlags = { StopCopy: 1n << 0n, P2p: 1n << 1n, PreCopy: 1n << 2n } as const;

/** `enum vfio_device_mig_state`. */
export enum MigDeviceState {
  Error = 0,
  Stop = 1,
  Running = 2,
  StopCopy = 3,
  Resuming = 4,
  RunningP2p = 5,
  PreCopy = 6,
  PreCopyP2p = 7,
}

/** Spec names of the migration states. */
export function migDeviceStateName(state: number): string {
  return (
    ['ERROR', 'STOP', 'RUNNING', 'STOP_COPY', 'RESUMING', 'RUNNING_P2P', 'PRE_COPY', 'PRE_COPY_P2P'][state] ??
    `STATE(${state})`
  );
}
