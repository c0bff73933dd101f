/**
 * `@vfu/protocol/framing`: the part of the package a transport needs to cut a byte stream into
 * messages with their fds, without the command codecs.
 */
export { DEFAULT_RECEIVE_LIMITS, type ReceiveLimits, receiveLimits } from './capabilities';
export {
  ERRNO_BY_CODE,
  Errno,
  errnoName,
  isProtocolError,
  ProtocolError,
  type ProtocolErrorCode,
  type ProtocolErrorContext,
} from './errors';
export { type FramedMessage, type FramerEvent, type FramerLimits, MessageFramer } from './framer';
export {
  decodeHeader,
  encodeHeader,
  HEADER_SIZE,
  HeaderFlags,
  type HeaderInit,
  type MessageHeader,
  type MessageType,
} from './header';
