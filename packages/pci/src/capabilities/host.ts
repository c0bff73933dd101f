import type { ConfigSpace } from '../config-space';
import type { IrqStateEvent, MsiMessage, MsiOutcome } from '../interrupts';

/**
 * What a capability needs from its device: config space, message delivery (gated by bus master
 * and routed to the bus's interrupt sink), state-change reports and INTx deassertion.
 */
export interface CapabilityHost {
  readonly config: ConfigSpace;
  /** Name used in error messages. */
  readonly label: string;
  sendMessage(kind: 'msi' | 'msix', vector: number, message: MsiMessage): MsiOutcome;
  reportIrqState(event: IrqStateEvent): void;
  deassertIntx(): void;
}

/** Whether `[addr, addr+len)` overlaps `[start, start+size)`. */
export function rangesOverlap(addr: number, len: number, start: number, size: number): boolean {
  return addr < start + size && start < addr + len;
}
