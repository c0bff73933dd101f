import type { CommandCodec } from '../codec-types';
import { Command } from '../command';
import { encodeError } from '../wire';
import { type DmaAccess, decodeDmaAccess, describeDmaAccess, dmaData, encodeDmaAccess } from './dma-access';

/** DMA_READ request (server to client): read `count` bytes of client memory at `address`. */
export type DmaReadRequest = DmaAccess;

/** DMA_READ reply: the head echoed and the data, a view onto the received bytes. */
export interface DmaReadReply extends DmaAccess {
  data: Uint8Array;
}

/** DMA_READ (11), sent by the server. */
export const dmaReadCodec: CommandCodec<DmaReadRequest, DmaReadReply> = {
  command: Command.DmaRead,
  name: 'DMA_READ',
  decodeRequest(r, fds, options) {
    r.noFds(fds);
    r.exact(16, 'the DMA access struct');
    return decodeDmaAccess(r, options);
  },
  requestSize: () => 16,
  encodeRequest: encodeDmaAccess,
  describeRequest: (q) => describeDmaAccess(q),
  decodeReply(r, fds, options) {
    r.noFds(fds);
    r.need(16, 'the DMA access struct');
    const a = decodeDmaAccess(r, options);
    return { address: a.address, count: a.count, data: dmaData(r, a) };
  },
  replySize: (p) => 16 + p.data.length,
  encodeReply(w, p) {
    if (BigInt(p.data.length) !== p.count)
      throw encodeError('DMA_READ', 'data length differs from count', 'data');
    encodeDmaAccess(w, p);
    w.bytesAt(16, p.data);
  },
  describeReply: (p) => describeDmaAccess(p, p.data),
};
