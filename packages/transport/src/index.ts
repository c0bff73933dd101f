export {
  type CallOptions,
  CHANNEL_DEFAULTS,
  Channel,
  type ChannelEvents,
  type ChannelMessage,
  type ChannelOptions,
  type MessageTap,
  type Payload,
  type PostOptions,
  type RawHeader,
  type ReplyBody,
  type RequestHandler,
  type RequestOptions,
  type TappedMessage,
} from './channel';
export { type ConnectOptions, channelFromFd, channelPair, connect } from './connect';
export {
  isTransportError,
  TransportError,
  type TransportErrorCode,
  type TransportErrorContext,
} from './errors';
export { Listener, type ListenerEvents, type ListenOptions, listen } from './listener';
export type { ByteSource, MessageSink, MessageSource } from './message-reader';
export type { CallReply, ReplyDecodeOptions } from './typed-call';
export type { MessageWriter } from './write-queue';
