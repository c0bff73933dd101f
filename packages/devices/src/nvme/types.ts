/**
 * What the NVMe controller core is handed: DMA into guest memory, interrupts, a block backend per
 * namespace. The core does no I/O of its own, so it runs under the PCI layer, in unit tests driven
 * by plain calls, and under any other harness.
 */

import type { DeviceBlockBackend } from '../block-backend';
import type { DmaResult } from '../interfaces';

/**
 * Guest memory as the controller reaches it: the device's bus-master address space. `read` and
 * `write` are asynchronous (memory reached through vfio-user messages completes later); `map`
 * is the fast path for memory the server has mapped: a view the backend reads into or writes from
 * directly, without an intermediate copy.
 */
export interface NvmeDma {
  /** Fill `dest` from bus address `address`. */
  read(address: bigint, dest: Uint8Array): Promise<DmaResult>;
  /** Write `data` at bus address `address`. */
  write(address: bigint, data: Uint8Array): Promise<DmaResult>;
  /**
   * A view of `length` bytes of guest memory at `address` when that range is directly mapped RAM,
   * else `undefined` (the caller then uses `read`/`write`). The view may be shorter when the RAM
   * range ends first. It is valid until the guest memory is unmapped; the controller only holds
   * views while an I/O is in flight, and the PCI layer drains I/O before unmapping.
   */
  map?(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined;
}

/** How the PCI layer delivers the controller's interrupts. */
export type NvmeInterruptMode = 'msix' | 'msi' | 'intx';

/**
 * The controller's interrupt outputs. The PCI layer picks the mechanism (MSI-X when enabled, else
 * MSI, else the INTx pin) and applies masking and pending bits.
 */
export interface NvmeInterrupts {
  /** Which mechanism the guest enabled. */
  mode(): NvmeInterruptMode;
  /** Send the message of `vector` (MSI-X or MSI). */
  notify(vector: number): void;
  /** Drive the INTx pin. */
  setIntx(asserted: boolean): void;
}

/**
 * The block backend a namespace stores its data on: the part of `@vfu/block`'s `BlockBackend`
 * the controller uses (any `BlockBackend` fits).
 */
export type NvmeBlockBackend = DeviceBlockBackend;

/** One namespace: a block backend seen in logical blocks. */
export interface NvmeNamespaceConfig {
  /** Namespace id, 1-based (default: position in the list + 1). */
  nsid?: number;
  /** Backing store. */
  backend: NvmeBlockBackend;
  /** Logical block size: 512 or 4096 (default 512). */
  logicalBlockSize?: 512 | 4096;
  /** Namespace UUID (16 bytes); default derived from the controller serial and nsid. */
  uuid?: Uint8Array;
}
