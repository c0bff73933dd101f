/**
 * How a vfio-user message is stored in a capture: one pcapng Enhanced Packet Block per message on
 * link type LINKTYPE_USER0 (147), one interface per endpoint, and before the message bytes an
 * 8-byte record header saying which way it went, on which connection, with how many fds. The
 * Wireshark dissector in `wireshark/vfio-user.lua` reads the same layout.
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 1 | version (1) |
 * | 1 | 1 | direction: 0 client to server, 1 server to client |
 * | 2 | 2 | number of fds passed with the message (LE) |
 * | 4 | 4 | connection number within the endpoint, from 1 (LE) |
 */
import { TraceError } from './errors';

/** LINKTYPE_USER0: the link type of vfio-user captures. */
export const VFIO_USER_LINKTYPE = 147;
/** Size of the record header before each message. */
export const RECORD_HEADER_SIZE = 8;
const RECORD_VERSION = 1;

/** Which way a message went. */
export type MessageDirection = 'c2s' | 's2c';

/** The record header of one captured message. */
export interface RecordHeader {
  direction: MessageDirection;
  fds: number;
  connection: number;
}

export function encodeRecordHeader(h: RecordHeader): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_SIZE);
  const view = new DataView(out.buffer);
  out[0] = RECORD_VERSION;
  out[1] = h.direction === 'c2s' ? 0 : 1;
  view.setUint16(2, Math.min(h.fds, 0xffff), true);
  view.setUint32(4, h.connection >>> 0, true);
  return out;
}

export function decodeRecordHeader(data: Uint8Array): RecordHeader {
  if (data.byteLength < RECORD_HEADER_SIZE || data[0] !== RECORD_VERSION || (data[1] as number) > 1) {
    throw new TraceError('bad-capture', 'packet does not start with a vfio-user record header (version 1)');
  }
  const view = new DataView(data.buffer, data.byteOffset, RECORD_HEADER_SIZE);
  return {
    direction: data[1] === 0 ? 'c2s' : 's2c',
    fds: view.getUint16(2, true),
    connection: view.getUint32(4, true),
  };
}
