/**
 * @vfu/server: the vfio-user device server endpoint. A VfioUserServer gives one PCI device its own
 * root bus and serves it over a UNIX socket: VERSION, region and IRQ queries, config and BAR
 * access, DMA mapping (mmapped fds or DMA_READ/WRITE messages), interrupts through eventfds.
 */
export type { ConnectionWarning, ServerConnection } from './connection';
export { ConnectionBudget, type ConnectionBudgetOptions } from './connection-budget';
export type { DmaMapping } from './dma';
export { isServerError, ServerError, type ServerErrorCode, type ServerErrorContext } from './errors';
export type { IrqIndexSnapshot } from './irqs';
export type { RegionFdBacking, RegionFdResolver } from './regions';
export {
  CONNECTION_CAPS_DEFAULTS,
  type ConnectionCaps,
  type ServerLimits,
  VfioUserServer,
  type VfioUserServerEvent,
  type VfioUserServerOptions,
} from './server';
export {
  type ReplayConnection,
  type ReplayMismatch,
  replayTranscript,
  type Transcript,
  type TranscriptMessage,
} from './transcript';
export type { ServerLogger, ServerStats, TraceEvent } from './types';
