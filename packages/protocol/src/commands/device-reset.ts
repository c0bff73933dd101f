import { type CommandCodec, type EmptyPayload, emptyPayload } from '../codec-types';
import { Command } from '../command';

/** DEVICE_RESET request: no payload. */
export type DeviceResetRequest = EmptyPayload;
/** DEVICE_RESET reply: no payload. */
export type DeviceResetReply = EmptyPayload;

/** DEVICE_RESET (13): the only command whose request is header-only. */
export const deviceResetCodec: CommandCodec<DeviceResetRequest, DeviceResetReply> = {
  command: Command.DeviceReset,
  name: 'DEVICE_RESET',
  decodeRequest: emptyPayload.decode,
  requestSize: emptyPayload.size,
  encodeRequest: emptyPayload.encode,
  describeRequest: emptyPayload.describe,
  decodeReply: emptyPayload.decode,
  replySize: emptyPayload.size,
  encodeReply: emptyPayload.encode,
  describeReply: emptyPayload.describe,
};
