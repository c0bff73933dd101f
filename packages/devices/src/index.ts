/**
 * `@vfu/devices`: the device-author API (register tables, `defineDevice`) and the zoo built on it
 * (edu, pci-testdev, pci-serial, ACCES PCI-IDIO-16), each a core with injected interrupts, DMA,
 * clock and log and a PCI definition.
 */

// Device authors declare their state with these; re-exported so that a device needs one import.
export { defineVmState, VmStateError, vm } from '@vfu/vmstate';
export {
  type DetachedContextOptions,
  type DeviceContext,
  type DeviceDma,
  type DeviceInterrupts,
  detachedContext,
  type HostContext,
  type MsixNotifier,
} from './api/context';
export {
  type AnyDeviceType,
  type BarContents,
  type BarSpec,
  type CapabilitySpec,
  DEFAULT_SUBSYSTEM_ID,
  DEFAULT_SUBSYSTEM_VENDOR_ID,
  DefinedPciDevice,
  type DeviceDefinition,
  type DeviceIdentity,
  type DeviceType,
  defineDevice,
  type MsixSpec,
  type RuntimePropertySpec,
  registerDeviceTypes,
  type StatusPropertySpec,
} from './api/define-device';
export {
  type AccessSize,
  type RangeEntry,
  type RangeOptions,
  type RegisterAccess,
  RegisterBank,
  type RegisterBuilder,
  type RegisterEntry,
  type RegisterOptions,
  RegisterTable,
  type RegisterTableOptions,
  type RegisterValue,
  type RegisterValues,
  type RegisterWidth,
  registerTable,
  type SubwordPolicy,
  type TableEntry,
} from './api/register-bank';
export {
  type AnyVmStateSchema,
  type DeviceStateSpec,
  deviceState,
  loadDeviceStream,
  type PciStateHost,
  pciVmState,
  saveDeviceStream,
} from './api/state';
export type {
  DeviceBlockBackend,
  DeviceBlockWriteFlags,
  DeviceBlockWriteZeroesFlags,
} from './block-backend';
export {
  BufferedCharBackend,
  CHARDEV_INPUT_HIGH_WATER,
  type CharBackend,
  type CharFrontend,
} from './chardev/char-backend';
export { FileCharBackend, type FileCharBackendOptions } from './chardev/file';
export { MemoryCharBackend, NullCharBackend } from './chardev/memory';
export { SOCKET_CHARDEV_MAX_WAITING_PEERS, SocketCharBackend } from './chardev/socket';
export { type ChardevSpec, createCharBackend, parseChardevSpec } from './chardev/spec';
export { StdioCharBackend, type StdioCharBackendOptions } from './chardev/stdio';
export { createHostClock, ManualClock } from './clock';
export {
  EDU_DEFAULT_DMA_DELAY_NS,
  EDU_DEFAULT_DMA_MASK,
  EDU_DMA_BUFFER_ADDRESS,
  EDU_DMA_BUFFER_SIZE,
  EDU_DMA_CMD_IRQ,
  EDU_DMA_CMD_START,
  EDU_DMA_CMD_TO_RAM,
  EDU_IDENTIFICATION,
  EDU_IRQ_DMA,
  EDU_IRQ_FACTORIAL,
  EDU_MMIO_SIZE,
  EDU_PCI_IDS,
  EDU_STATUS_COMPUTING,
  EDU_STATUS_IRQ_FACTORIAL,
  Edu,
  type EduProperties,
  EduRegister,
  type EduState,
  eduDevice,
  eduFactorial,
  eduProperties,
} from './edu';
export { DeviceError, type DeviceErrorCode, type DeviceErrorContext, isDeviceError } from './errors';
export {
  consoleDeviceLog,
  type DeviceClock,
  type DeviceLog,
  type DmaAccess,
  type DmaResult,
  disconnectedInterruptLine,
  formatGuestErrorEvent,
  type GuestErrorEvent,
  type InterruptLine,
  type MsiNotifier,
  noDma,
  noMsi,
  type ResetKind,
  silentDeviceLog,
  type TimerHandle,
} from './interfaces';
export * from './nvme';
export {
  IDIO_16_STATUS_INPUTS_HIGH,
  IDIO_16_STATUS_INPUTS_LOW,
  IDIO_16_STATUS_PENDING,
  PCI_IDIO_16_BAR,
  PCI_IDIO_16_IO_SIZE,
  PCI_IDIO_16_PCI_IDS,
  PciIdio16,
  type PciIdio16Options,
  PciIdio16Register,
  type PciIdio16State,
  pciIdio16Device,
  pciIdio16Properties,
} from './pci-idio-16';
export { PciSerial, pciSerialDevice, pciSerialProperties } from './pci-serial';
export {
  PCI_TESTDEV_DATAMATCH,
  PCI_TESTDEV_MMIO_SIZE,
  PCI_TESTDEV_NOMATCH,
  PCI_TESTDEV_PCI_IDS,
  PCI_TESTDEV_PORTIO_SIZE,
  PCI_TESTDEV_TESTS,
  PCI_TESTDEV_TESTS_PER_BAR,
  PciTestdev,
  type PciTestdevBar,
  PciTestdevHeader,
  type PciTestdevOptions,
  type PciTestdevSpace,
  type PciTestdevState,
  type PciTestdevTest,
  type PciTestdevTestKind,
  pciTestdevDevice,
  pciTestdevHeaderBytes,
  pciTestdevProperties,
} from './pci-testdev';
export * from './serial-16550';
export {
  DEFAULT_ZOO_DEVICES,
  type RegisterZooOptions,
  registerZooDevices,
  ZOO_DEVICES,
} from './zoo';
