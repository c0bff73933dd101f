import type { PciDevice } from '@vfu/pci';
import type { DmaAccess, DmaResult, InterruptLine, MsiNotifier } from '../interfaces';

/** The device's INTx pin as an {@link InterruptLine} (QEMU `pci_set_irq`). */
export function intxLine(device: PciDevice): InterruptLine {
  return { setLevel: (asserted) => device.setIrq(asserted) };
}

/** The device's MSI capability as an {@link MsiNotifier}; never enabled before `msiInit`. */
export function msiNotifier(device: PciDevice): MsiNotifier {
  return {
    isEnabled: () => device.msi?.enabled ?? false,
    notify: (vector) => {
      if (device.msi !== undefined) device.msiNotify(vector);
    },
  };
}

/**
 * DMA through the device's bus-master AddressSpace (gated by Command.BUS_MASTER, so accesses
 * while bus mastering is off are decode errors). Outside realize every access is a decode error.
 */
export function busMasterDma(device: PciDevice): DmaAccess {
  return {
    read: (address, dest): Promise<DmaResult> =>
      device.realized ? device.dmaRead(address, dest) : Promise.resolve('decode-error'),
    write: (address, data): Promise<DmaResult> =>
      device.realized ? device.dmaWrite(address, data) : Promise.resolve('decode-error'),
  };
}
