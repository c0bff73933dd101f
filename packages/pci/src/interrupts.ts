/**
 * Interrupt delivery from PCI devices to whoever owns the bus. There is no interrupt controller
 * here: the PCI layer applies the enable/mask/pending rules and hands the result to the bus's
 * `InterruptSink`, which a vfio-user server maps to the client's eventfds (SET_IRQS) or records as
 * pending. The sink also hears about enable and mask changes, which GET_IRQ_INFO/SET_IRQS need.
 */
import type { PciDevice } from './pci-device';

/** An MSI/MSI-X message as the device would write it (address/data programmed by the guest). */
export interface MsiMessage {
  address: bigint;
  data: number;
}

/** A change in a device's interrupt configuration, reported to {@link InterruptSink.irqStateChanged}. */
export type IrqStateEvent =
  | {
      /** Command.INTX_DISABLE changed. */
      kind: 'intx-disable';
      disabled: boolean;
    }
  | {
      /** MSI enable or allocated vector count (Multiple Message Enable) changed. */
      kind: 'msi-enable';
      enabled: boolean;
      /** Vectors allocated by software (1..32). */
      vectors: number;
    }
  | {
      /** MSI per-vector mask register changed (only with per-vector masking). */
      kind: 'msi-mask';
      /** Bit v set = vector v masked. */
      mask: number;
    }
  | {
      /** MSI-X enable or function mask changed. */
      kind: 'msix-enable';
      enabled: boolean;
      functionMasked: boolean;
    }
  | {
      /** One MSI-X table entry's mask bit changed. */
      kind: 'msix-vector-mask';
      vector: number;
      masked: boolean;
    };

/**
 * Where a bus delivers interrupts. Every call names the device, since several functions may sit
 * on one bus. Calls are synchronous and must not throw (a throwing sink is a host bug and
 * propagates to whoever triggered the interrupt).
 */
export interface InterruptSink {
  /** The device's INTx line (its interrupt pin) changed level, after INTx-disable gating. */
  intx(device: PciDevice, level: boolean): void;
  /** An unmasked, enabled MSI vector fired. */
  msi(device: PciDevice, vector: number, message: MsiMessage): void;
  /** An unmasked, enabled MSI-X vector fired. */
  msix(device: PciDevice, vector: number, message: MsiMessage): void;
  /** Enable/mask state changed (optional). */
  irqStateChanged?(device: PciDevice, event: IrqStateEvent): void;
}

/** What happened to an MSI/MSI-X notification. */
export type MsiOutcome =
  /** Handed to the sink. */
  | 'delivered'
  /** Vector masked: its pending bit is set; unmasking delivers it. */
  | 'pending'
  /** MSI not enabled, or the vector is beyond what software allocated: dropped. */
  | 'disabled'
  /** Bus master is off: the message write is dropped, as QEMU's bus-master AddressSpace does. */
  | 'blocked';

/** What the vfio-user server reports in GET_IRQ_INFO (counts per vfio IRQ index). */
export interface IrqInfo {
  /** Interrupt pin 1-4 (INTA-INTD), 0 if the device has no INTx. */
  intxPin: number;
  /** INTx index count: 1 if the device has a pin, else 0. */
  intxCount: number;
  /** MSI vectors the device is capable of (0 without an MSI capability). */
  msiVectors: number;
  /** MSI-X table size (0 without an MSI-X capability). */
  msixVectors: number;
}
