import type { CommandCodec, HeaderOnlyReply } from '../codec-types';
import { Command } from '../command';
import { encodeError } from '../wire';
import {
  type DmaAccess,
  decodeDmaAccess,
  decodeDmaAccessWithData,
  describeDmaAccess,
  encodeDmaAccess,
  encodeDmaAccessWithData,
} from './dma-access';

/** DMA_WRITE request (server to client): the head and `count` bytes, a view onto the received bytes. */
export interface DmaWriteRequest extends DmaAccess {
  data: Uint8Array;
}

/**
 * DMA_WRITE reply. libvfio-user expects the 16-byte head echoed (the default form); the spec's
 * table shows a 12-byte form with a u32 count (`form: 'short'`); QEMU's client answers
 * header-only. All three are accepted.
 */
export type DmaWriteReply =
  | (DmaAccess & { form?: undefined })
  | (DmaAccess & { form: 'short' })
  | HeaderOnlyReply;

/** DMA_WRITE (12), sent by the server. */
export const dmaWriteCodec: CommandCodec<DmaWriteRequest, DmaWriteReply> = {
  command: Command.DmaWrite,
  name: 'DMA_WRITE',
  decodeRequest(r, fds, options) {
    r.noFds(fds);
    return decodeDmaAccessWithData(r, options);
  },
  requestSize: (q) => 16 + q.data.length,
  encodeRequest: (w, q) => encodeDmaAccessWithData(w, q, 'DMA_WRITE'),
  describeRequest: (q) => describeDmaAccess(q, q.data),
  decodeReply(r, fds, options) {
    r.noFds(fds);
    if (r.length === 0) return { form: 'header-only' };
    if (r.length === 12)
      return { form: 'short', address: r.u64(0, 'address'), count: BigInt(r.u32(8, 'count')) };
    r.exact(16, 'the DMA access struct');
    return decodeDmaAccess(r, options);
  },
  replySize: (p) => (p.form === 'header-only' ? 0 : p.form === 'short' ? 12 : 16),
  encodeReply(w, p) {
    if (p.form === 'header-only') return;
    if (p.form === 'short') {
      if (p.count > 0xffff_ffffn) throw encodeError('DMA_WRITE', 'short form count exceeds u32', 'count');
      w.u64(0, p.address, 'address');
      w.u32(8, Number(p.count), 'count');
      return;
    }
    encodeDmaAccess(w, p);
  },
  describeReply: (p) =>
    p.form === 'header-only'
      ? [['payload', 'none (header-only)']]
      : [
          ...describeDmaAccess(p),
          ...(p.form === 'short' ? ([['form', '12-byte spec layout']] as const) : []),
        ],
};
