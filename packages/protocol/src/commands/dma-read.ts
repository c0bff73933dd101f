import type { CommandCodec } from '../codec-types';
import { Command } from '../command';
import {
  type DmaAccess,
  decodeDmaAccess,
  decodeDmaAccessWithData,
  describeDmaAccess,
  encodeDmaAccess,
  encodeDmaAccessWithData,
} from './dma-access';

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
    return decodeDmaAccessWithData(r, options);
  },
  replySize: (p) => 16 + p.data.length,
  encodeReply: (w, p) => encodeDmaAccessWithData(w, p, 'DMA_READ'),
  describeReply: (p) => describeDmaAccess(p, p.data),
};
