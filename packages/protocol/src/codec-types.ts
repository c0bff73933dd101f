import type { Command } from './command';
import type { PayloadReader, PayloadWriter } from './wire';

/** Limits a decoder applies on top of the wire format. */
export interface DecodeOptions {
  /**
   * Largest data `count` we accept in REGION_READ/WRITE, DMA_READ/WRITE and MIG_DATA_* (our own
   * advertised `max_data_xfer_size`). Unchecked when absent.
   */
  maxDataXferSize?: number;
}

/** One line of a message description: field name and rendered value. */
export type DescribedField = readonly [name: string, value: string];

/**
 * How one command's request and reply payloads are decoded, sized, encoded and described.
 * Decoders get the payload (after the header) and the fds that came with it; encoders get a
 * writer over exactly `size` bytes.
 */
export interface CommandCodec<Req, Rep> {
  readonly command: Command;
  /** Spec name without `VFIO_USER_`. */
  readonly name: string;
  decodeRequest(r: PayloadReader, fds: readonly number[], options: DecodeOptions): Req;
  requestSize(request: Req): number;
  encodeRequest(w: PayloadWriter, request: Req): void;
  describeRequest(request: Req): DescribedField[];
  decodeReply(r: PayloadReader, fds: readonly number[], options: DecodeOptions): Rep;
  replySize(reply: Rep): number;
  encodeReply(w: PayloadWriter, reply: Rep): void;
  describeReply(reply: Rep): DescribedField[];
}

/** Body of a message that carries no payload (DMA_MAP reply, DEVICE_RESET, ...). */
export type EmptyPayload = Record<string, never>;

/** The one empty payload value. */
export const EMPTY: EmptyPayload = Object.freeze({}) as EmptyPayload;

/**
 * A reply libvfio-user sends with no payload where the spec expects one: REGION_READ with
 * count 0, DMA_UNMAP from a device without DMA, QEMU's DMA_WRITE reply.
 */
export interface HeaderOnlyReply {
  form: 'header-only';
}

/** Shared codec pieces for messages with no payload. */
export const emptyPayload = {
  decode(r: PayloadReader, fds: readonly number[]): EmptyPayload {
    r.exact(0, 'an empty payload');
    r.noFds(fds);
    return EMPTY;
  },
  size(): number {
    return 0;
  },
  encode(): void {},
  describe(): DescribedField[] {
    return [];
  },
};

/** Checks a data `count` against {@link DecodeOptions.maxDataXferSize}. */
export function checkXferCount(
  r: PayloadReader,
  count: number | bigint,
  options: DecodeOptions,
  field: string,
  offset: number,
): void {
  const max = options.maxDataXferSize;
  if (max !== undefined && (typeof count === 'number' ? count > max : count > BigInt(max))) {
    throw r.error('count-too-large', `${field} ${count} exceeds max_data_xfer_size ${max}`, field, offset);
  }
}
