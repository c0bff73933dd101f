/** Reads the vfio-user messages of a capture written by {@link CaptureWriter} (or by anything using the same layout). */
import { TraceError } from './errors';
import { readPcapng } from './pcapng';
import { decodeRecordHeader, type MessageDirection, RECORD_HEADER_SIZE, VFIO_USER_LINKTYPE } from './record';

/** One captured message. */
export interface CapturedMessage {
  /** Position in the capture, from 0. */
  index: number;
  /** Endpoint (interface) name, e.g. `s0`; unique per section. */
  endpoint: string;
  /** The endpoint's description, e.g. its socket path. */
  description: string | undefined;
  /** Connection number within the endpoint, from 1 (a new section restarts the numbering). */
  connection: number;
  direction: MessageDirection;
  /** Number of fds passed with the message (the fds themselves cannot be captured). */
  fds: number;
  /** Microseconds since the epoch. */
  timeMicros: bigint;
  /** The message bytes, header first (cut at the snap length when `truncated`). */
  bytes: Uint8Array;
  /** Its length on the wire. */
  length: number;
  truncated: boolean;
}

/**
 * Every vfio-user message of a pcapng capture, in order. Packets of other link types are skipped;
 * throws `bad-capture` when the file is not pcapng or a vfio-user packet is malformed.
 */
export function readCapture(bytes: Uint8Array): CapturedMessage[] {
  const file = readPcapng(bytes);
  const out: CapturedMessage[] = [];
  for (const p of file.packets) {
    const section = file.sections[p.section];
    const iface = section?.interfaces[p.interfaceId];
    if (iface === undefined || iface.linkType !== VFIO_USER_LINKTYPE) continue;
    let record: ReturnType<typeof decodeRecordHeader>;
    try {
      record = decodeRecordHeader(p.data);
    } catch (cause) {
      throw new TraceError('bad-capture', `packet ${out.length}: ${(cause as Error).message}`, { cause });
    }
    const name = iface.name ?? `interface ${p.interfaceId}`;
    out.push({
      index: out.length,
      endpoint: name,
      description: iface.description,
      connection: record.connection,
      direction: record.direction,
      fds: record.fds,
      timeMicros: p.timeMicros,
      bytes: p.data.subarray(RECORD_HEADER_SIZE),
      length: p.originalLength - RECORD_HEADER_SIZE,
      truncated: p.originalLength > p.data.byteLength,
    });
  }
  return out;
}
