/**
 * What the endpoint needs from a connection: the narrow surface of `@vfu/transport`'s Channel
 * the protocol logic uses. Keeping it this small lets tests drive an endpoint over any pair of
 * connected channels, and keeps the socket details out of the command handlers.
 */
import type { Command, FramerLimits, RequestOf } from '@vfu/protocol';
import type {
  CallOptions,
  CallReply,
  ChannelMessage,
  MessageTap,
  Payload,
  ReplyBody,
  RequestOptions,
} from '@vfu/transport';

/** A connected vfio-user peer as the endpoint sees it (a `@vfu/transport` Channel fits). */
export interface ServerConnection {
  /** Installs the handler of the client's commands; handlers run one at a time, in order. */
  onRequest(
    handler: ((request: ChannelMessage) => ReplyBody | undefined | Promise<ReplyBody | undefined>) | null,
  ): void;
  /** Sends a server-to-client command (DMA_READ/DMA_WRITE) and resolves with its raw reply. */
  request(command: number, payload?: Payload, options?: RequestOptions): Promise<ChannelMessage>;
  /** The same, typed: `body` encoded by the command's codec, the reply decoded. */
  call<C extends Command>(command: C, body: RequestOf<C>, options?: CallOptions): Promise<CallReply<C>>;
  /** Limits checked on received messages (ours, after VERSION). */
  setReceiveLimits(limits: FramerLimits): void;
  /** Limits checked on sent messages (the client's, after VERSION). */
  setSendLimits(limits: FramerLimits): void;
  /** Installs a tap that sees every message (captures); connections without one are not tapped. */
  setTap?(tap: MessageTap | undefined): void;
  /** Orderly close (queued replies flushed). */
  close(): Promise<void>;
  /** Immediate close. */
  destroy(): void;
  readonly closed: boolean;
  on(event: 'close', listener: (error: Error | undefined) => void): unknown;
  on(event: 'warning', listener: (warning: ConnectionWarning) => void): unknown;
}

/** A non-fatal anomaly the connection reports (a `@vfu/transport` TransportError fits). */
export interface ConnectionWarning extends Error {
  /** `PROTOCOL_VIOLATION` for a message rejected before decoding, which the connection answered. */
  code?: string;
  errno?: number | undefined;
  command?: number | undefined;
  msgId?: number | undefined;
}
