/**
 * `@vfu/trace/capture`: writing and reading vfio-user pcapng captures, with no dependency beyond
 * Node, for servers, clients and apps that only record.
 */
export {
  type CaptureMessage,
  CaptureWriter,
  type CaptureWriterOptions,
  rotatedPath,
} from './capture-writer';
export { isTraceError, TraceError, type TraceErrorCode, type TraceErrorContext } from './errors';
export {
  BlockType,
  enhancedPacketBlock,
  type InterfaceDescription,
  interfaceDescriptionBlock,
  PacketDirection,
  type PcapngFile,
  type ReadInterface,
  type ReadPacket,
  readPcapng,
  sectionHeaderBlock,
} from './pcapng';
export { type CapturedMessage, readCapture } from './read-capture';
export {
  decodeRecordHeader,
  encodeRecordHeader,
  type MessageDirection,
  RECORD_HEADER_SIZE,
  type RecordHeader,
  VFIO_USER_LINKTYPE,
} from './record';
