import type { CommandCodec } from '../codec-types';
import { Command } from '../command';
import { IrqInfoFlags, vfioPciIrqName } from '../constants';
import { flagNames, hex } from '../wire';
import { decodeIndexRequest, encodeIndexRequest } from './index-request';

/** DEVICE_GET_IRQ_INFO request. */
export interface DeviceGetIrqInfoRequest {
  argsz: number;
  /** IRQ index ({@link VfioPciIrq}). */
  index: number;
}

/** DEVICE_GET_IRQ_INFO reply. */
export interface DeviceGetIrqInfoReply {
  argsz: number;
  /** {@link IrqInfoFlags}. */
  flags: number;
  index: number;
  /** Vectors of this index (0 = not implemented). */
  count: number;
}

const KNOWN = IrqInfoFlags.Eventfd | IrqInfoFlags.Maskable | IrqInfoFlags.Automasked | IrqInfoFlags.NoResize;
const FLAG_NAMES = [
  [IrqInfoFlags.Eventfd, 'EVENTFD'],
  [IrqInfoFlags.Maskable, 'MASKABLE'],
  [IrqInfoFlags.Automasked, 'AUTOMASKED'],
  [IrqInfoFlags.NoResize, 'NORESIZE'],
] as const;

/** DEVICE_GET_IRQ_INFO (7). */
export const deviceGetIrqInfoCodec: CommandCodec<DeviceGetIrqInfoRequest, DeviceGetIrqInfoReply> = {
  command: Command.DeviceGetIrqInfo,
  name: 'DEVICE_GET_IRQ_INFO',
  decodeRequest: (r, fds) => decodeIndexRequest(r, fds, 'the DEVICE_GET_IRQ_INFO struct'),
  requestSize: () => 16,
  encodeRequest: encodeIndexRequest,
  describeRequest: (q) => [
    ['argsz', String(q.argsz)],
    ['index', `${q.index}(${vfioPciIrqName(q.index)})`],
  ],
  decodeReply(r, fds) {
    r.noFds(fds);
    r.exact(16, 'the DEVICE_GET_IRQ_INFO struct');
    const argsz = r.u32(0, 'argsz');
    r.argszAtLeast(argsz, 16);
    const flags = r.u32(4, 'flags');
    if ((flags & ~KNOWN) !== 0) throw r.error('bad-field', `unknown flags ${hex(flags)}`, 'flags', 4);
    return { argsz, flags, index: r.u32(8, 'index'), count: r.u32(12, 'count') };
  },
  replySize: () => 16,
  encodeReply(w, p) {
    w.u32(0, p.argsz, 'argsz');
    w.u32(4, p.flags, 'flags');
    w.u32(8, p.index, 'index');
    w.u32(12, p.count, 'count');
  },
  describeReply: (p) => [
    ['argsz', String(p.argsz)],
    ['flags', flagNames(p.flags, FLAG_NAMES)],
    ['index', `${p.index}(${vfioPciIrqName(p.index)})`],
    ['count', String(p.count)],
  ],
};
