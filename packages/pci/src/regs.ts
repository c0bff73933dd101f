/** PCI register constants now live in the leaf package `@vfu/pci-regs`; re-exported for existing imports. */
export * from '@vfu/pci-regs';
