/**
 * What a command handler may use of the client's session. Handlers depend on this interface and
 * the session implements it, so the handler table and the session do not import each other.
 */
import type { PciDevice } from '@vfu/pci';
import type { NegotiatedCapabilities, VersionOffer } from '@vfu/protocol';
import type { DmaController } from './dma';
import type { IrqController } from './irqs';
import type { RegionFdResolver } from './regions';
import type { ServerStats } from './types';

/** The session as its command handlers see it. */
export interface CommandContext {
  /** What VERSION agreed, once it has completed. */
  readonly negotiated: NegotiatedCapabilities | undefined;
  /** The endpoint's side of the session. */
  readonly host: {
    readonly irqs: IrqController;
    readonly stats: ServerStats;
    readonly offer: VersionOffer;
    readonly resolveRegionFd: RegionFdResolver | undefined;
  };
  /** The served device, or ENODEV when it has been removed. */
  requireDevice(): PciDevice;
  /** DMA controller, present once VERSION completed. */
  requireDma(): DmaController;
  /** Applies a successful VERSION negotiation: limits both ways, and DMA. */
  negotiatedWith(n: NegotiatedCapabilities): void;
  /** Closes the connection once the reply being prepared is on its way. */
  closeAfterReply(): void;
  /** Logs a guest mistake (never an error reply). */
  guestError(message: string): void;
  /** Drops the client if the shared memory behind `what`, which it was handed, is truncated. */
  watchSharedMemory(mapping: { onPoisoned(listener: () => void): () => void }, what: string): void;
}
