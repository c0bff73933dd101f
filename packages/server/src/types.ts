/** Shared public types of the server: logger, trace events, statistics. */

/** Where the endpoint logs (a console-like object; every method takes a message and context). */
export interface ServerLogger {
  debug(msg: string, ctx?: object): void;
  info(msg: string, ctx?: object): void;
  warn(msg: string, ctx?: object): void;
  error(msg: string, ctx?: object): void;
}

/** One message received (`rx`) or sent (`tx`) by an endpoint, in `@vfu/protocol` describe() form. */
export interface TraceEvent {
  /** Endpoint id (root bus id). */
  endpoint: string;
  direction: 'rx' | 'tx';
  /** One-line `describe(message).summary`. */
  text: string;
  /** Multi-line `describe(message).detail`, when the message could be described in full. */
  detail?: string;
}

/** Counters of an endpoint since it was created (all clients). */
export interface ServerStats {
  /** Messages received: client commands and replies to our DMA_READ/WRITE, rejected ones too. */
  messagesIn: number;
  /** Messages sent: replies (error replies included) and DMA_READ/WRITE commands. */
  messagesOut: number;
  /** DMA mappings of the current client. */
  dmaRegions: number;
  /**
   * Error replies the endpoint sent. Messages the connection rejects before they can be decoded
   * (oversize, bad header flags) are answered by the connection and counted in `messagesIn` only.
   */
  errorsReplied: number;
}

/** A logger that drops everything (the default). */
export const silentLogger: ServerLogger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});
