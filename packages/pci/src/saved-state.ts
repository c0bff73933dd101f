/**
 * The guest-visible PCI part of a device's state, as QEMU's `vmstate_pci_device` and
 * `vmstate_msix` hold it: config space (BAR placement, Command, capabilities with MSI masks and
 * pending bits), the MSI-X table and PBA, and the INTx level. Checking is separate from applying so
 * that a caller can check every part of a stream before it changes anything.
 */
import { PCI_STATUS, PCI_STATUS_INTERRUPT } from '@vfu/pci-regs';
import type { MsiCapability } from './capabilities/msi';
import type { MsixCapability } from './capabilities/msix';
import type { ConfigSpace } from './config-space';
import { hex } from './errors';

/** A device's saved PCI state. */
export interface PciSavedState {
  /** The whole config space (256 or 4096 bytes). */
  config: Uint8Array;
  /** The device's INTx level (before Command.INTX_DISABLE gating). */
  intxLevel: boolean;
  /** MSI-X table and PBA, when the device has MSI-X. */
  msix?: { table: Uint8Array; pba: Uint8Array } | undefined;
}

/**
 * Why `saved` cannot be loaded into a device with this config space and capabilities, or undefined.
 * Read-only bits must match, as QEMU's `get_pci_config_device` requires: a stream of another device
 * type, another BAR layout or other capabilities is refused, naming the first differing byte.
 */
export function checkPciSavedState(
  cfg: ConfigSpace,
  msi: MsiCapability | undefined,
  msix: MsixCapability | undefined,
  hasPin: boolean,
  saved: PciSavedState,
): string | undefined {
  if (saved.config.length !== cfg.size) {
    return `config: ${saved.config.length} bytes saved, this device has ${cfg.size}`;
  }
  // Bits the device itself changes at run time without being software-writable.
  const volatile = new Uint8Array(cfg.size);
  volatile[PCI_STATUS] = PCI_STATUS_INTERRUPT;
  if (msi?.perVectorMask) {
    const pending = msi.offset + (msi.address64 ? 20 : 16);
    volatile.fill(0xff, pending, pending + 4);
  }
  for (let i = 0; i < cfg.size; i++) {
    const fixed = ~((cfg.wmask[i] as number) | (cfg.w1cmask[i] as number) | (volatile[i] as number)) & 0xff;
    const diff = ((saved.config[i] as number) ^ (cfg.config[i] as number)) & fixed;
    if (diff !== 0) {
      return `config: read-only bits of byte ${hex(i)} differ (saved ${hex(saved.config[i] as number)}, this device ${hex(cfg.config[i] as number)})`;
    }
  }
  if (saved.intxLevel && !hasPin) return 'intxLevel: set, but this device has no interrupt pin';
  if ((saved.msix === undefined) !== (msix === undefined)) {
    return msix === undefined ? 'msix: saved, but this device has no MSI-X' : 'msix: missing from the stream';
  }
  if (saved.msix !== undefined && msix !== undefined) {
    if (saved.msix.table.length !== msix.table.length) {
      return `msix.table: ${saved.msix.table.length} bytes saved, this device has ${msix.table.length}`;
    }
    if (saved.msix.pba.length !== msix.pba.length) {
      return `msix.pba: ${saved.msix.pba.length} bytes saved, this device has ${msix.pba.length}`;
    }
  }
  return undefined;
}
