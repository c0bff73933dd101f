import { describe, expect, it } from 'vitest';
import * as regs from './index.ts';

// Values checked against Linux include/uapi/linux/pci_regs.h.
describe('@vfu/pci-regs', () => {
  it('has the type 0 header layout of pci_regs.h', () => {
    expect(regs.PCI_COMMAND).toBe(0x04);
    expect(regs.PCI_STATUS).toBe(0x06);
    expect(regs.PCI_BASE_ADDRESS_0).toBe(0x10);
    expect(regs.PCI_BASE_ADDRESS_5).toBe(0x24);
    expect(regs.PCI_SUBSYSTEM_VENDOR_ID).toBe(0x2c);
    expect(regs.PCI_ROM_ADDRESS).toBe(0x30);
    expect(regs.PCI_CAPABILITY_LIST).toBe(0x34);
    expect(regs.PCI_INTERRUPT_PIN).toBe(0x3d);
    expect(regs.PCI_STD_HEADER_SIZEOF).toBe(64);
  });

  it('keeps masks unsigned 32-bit', () => {
    expect(regs.PCI_BASE_ADDRESS_MEM_MASK).toBe(0xfffffff0);
    expect(regs.PCI_BASE_ADDRESS_IO_MASK).toBe(0xfffffffc);
    expect(regs.PCI_ROM_ADDRESS_MASK).toBe(0xfffff800);
  });

  it('has capability ids and MSI/MSI-X field offsets', () => {
    expect(regs.PCI_CAP_ID_MSI).toBe(0x05);
    expect(regs.PCI_CAP_ID_MSIX).toBe(0x11);
    expect(regs.PCI_CAP_ID_EXP).toBe(0x10);
    expect(regs.PCI_MSI_DATA_64).toBe(12);
    expect(regs.PCI_MSIX_TABLE_BIR).toBe(regs.PCI_MSIX_FLAGS_BIRMASK);
    expect(regs.PCI_MSIX_ENTRY_SIZE).toBe(16);
  });

  it('exports only numbers', () => {
    for (const [name, value] of Object.entries(regs)) {
      expect(typeof value, name).toBe('number');
    }
  });
});
