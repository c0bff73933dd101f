import type { CommandCodec } from '../codec-types';
import { Command } from '../command';
import { DeviceInfoFlags } from '../constants';
import { flagNames } from '../wire';

/** DEVICE_GET_INFO request: only `argsz` (the other fields are zero). */
export interface DeviceGetInfoRequest {
  argsz: number;
}

/** DEVICE_GET_INFO reply (16 bytes: vfio-user drops Linux's `cap_offset`). */
export interface DeviceGetInfoReply {
  argsz: number;
  /** {@link DeviceInfoFlags}. */
  flags: number;
  /** At least 9 for PCI. */
  numRegions: number;
  /** Number of IRQ indices (5 for PCI). */
  numIrqs: number;
}

const FLAG_NAMES = [
  [DeviceInfoFlags.Reset, 'RESET'],
  [DeviceInfoFlags.Pci, 'PCI'],
] as const;

/** DEVICE_GET_INFO (4). */
export const deviceGetInfoCodec: CommandCodec<DeviceGetInfoRequest, DeviceGetInfoReply> = {
  command: Command.DeviceGetInfo,
  name: 'DEVICE_GET_INFO',
  decodeRequest(r, fds) {
    r.noFds(fds);
    r.exact(16, 'the DEVICE_GET_INFO struct');
    const argsz = r.u32(0, 'argsz');
    r.argszAtLeast(argsz, 16);
    r.zero(4, 4, 'flags');
    r.zero(8, 4, 'num_regions');
    r.zero(12, 4, 'num_irqs');
    return { argsz };
  },
  requestSize: () => 16,
  encodeRequest(w, q) {
    w.u32(0, q.argsz, 'argsz');
    w.zero(4, 12);
  },
  describeRequest: (q) => [['argsz', String(q.argsz)]],
  decodeReply(r, fds) {
    r.noFds(fds);
    r.exact(16, 'the DEVICE_GET_INFO struct');
    const argsz = r.u32(0, 'argsz');
    r.argszAtLeast(argsz, 16);
    return {
      argsz,
      flags: r.u32(4, 'flags'),
      numRegions: r.u32(8, 'num_regions'),
      numIrqs: r.u32(12, 'num_irqs'),
    };
  },
  replySize: () => 16,
  encodeReply(w, p) {
    w.u32(0, p.argsz, 'argsz');
    w.u32(4, p.flags, 'flags');
    w.u32(8, p.numRegions, 'num_regions');
    w.u32(12, p.numIrqs, 'num_irqs');
  },
  describeReply: (p) => [
    ['argsz', String(p.argsz)],
    ['flags', flagNames(p.flags, FLAG_NAMES)],
    ['num_regions', String(p.numRegions)],
    ['num_irqs', String(p.numIrqs)],
  ],
};
