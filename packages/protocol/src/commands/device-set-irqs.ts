import { type CommandCodec, type DescribedField, type EmptyPayload, emptyPayload } from '../codec-types';
import { Command } from '../command';
import { IrqSetFlags, vfioPciIrqName } from '../constants';
import { encodeError, hex, hexBytes } from '../wire';

/** What SET_IRQS does to the sub-indexes: the ACTION_* bit. */
export type IrqSetAction = 'mask' | 'unmask' | 'trigger';
/** How SET_IRQS data is given: the DATA_* bit. With `eventfd` the fds travel out of band. */
export type IrqSetDataType = 'none' | 'bool' | 'eventfd';

/**
 * DEVICE_SET_IRQS request (Linux `vfio_irq_set`). With `eventfd` the message carries exactly
 * `count` eventfds, or none to de-assign. `count` 0 with `none`/`trigger` disables the index.
 */
export interface DeviceSetIrqsRequest {
  /** 20 + data length. */
  argsz: number;
  action: IrqSetAction;
  dataType: IrqSetDataType;
  /** IRQ index ({@link VfioPciIrq}). */
  index: number;
  start: number;
  count: number;
  /** `bool` only: one byte per sub-index, a view onto the received bytes. */
  data?: Uint8Array;
}

/** DEVICE_SET_IRQS reply: no payload. */
export type DeviceSetIrqsReply = EmptyPayload;

const ACTIONS: Record<number, IrqSetAction> = {
  [IrqSetFlags.ActionMask]: 'mask',
  [IrqSetFlags.ActionUnmask]: 'unmask',
  [IrqSetFlags.ActionTrigger]: 'trigger',
};
const DATA_TYPES: Record<number, IrqSetDataType> = {
  [IrqSetFlags.DataNone]: 'none',
  [IrqSetFlags.DataBool]: 'bool',
  [IrqSetFlags.DataEventfd]: 'eventfd',
};
const ACTION_BITS: Record<IrqSetAction, number> = {
  mask: IrqSetFlags.ActionMask,
  unmask: IrqSetFlags.ActionUnmask,
  trigger: IrqSetFlags.ActionTrigger,
};
const DATA_BITS: Record<IrqSetDataType, number> = {
  none: IrqSetFlags.DataNone,
  bool: IrqSetFlags.DataBool,
  eventfd: IrqSetFlags.DataEventfd,
};

/** The raw `flags` word of a SET_IRQS request. */
export function irqSetFlags(action: IrqSetAction, dataType: IrqSetDataType): number {
  return ACTION_BITS[action] | DATA_BITS[dataType];
}

/** DEVICE_SET_IRQS (8). */
export const deviceSetIrqsCodec: CommandCodec<DeviceSetIrqsRequest, DeviceSetIrqsReply> = {
  command: Command.DeviceSetIrqs,
  name: 'DEVICE_SET_IRQS',
  decodeRequest(r, fds) {
    r.need(20, 'the DEVICE_SET_IRQS struct');
    const argsz = r.u32(0, 'argsz');
    const flags = r.u32(4, 'flags');
    const index = r.u32(8, 'index');
    const start = r.u32(12, 'start');
    const count = r.u32(16, 'count');
    const action = ACTIONS[flags & IrqSetFlags.ActionTypeMask];
    const dataType = DATA_TYPES[flags & IrqSetFlags.DataTypeMask];
    if ((flags & ~(IrqSetFlags.ActionTypeMask | IrqSetFlags.DataTypeMask)) !== 0) {
      throw r.error('bad-field', `unknown flags ${hex(flags)}`, 'flags', 4);
    }
    if (action === undefined)
      throw r.error('bad-field', `flags ${hex(flags)} need exactly one ACTION bit`, 'flags', 4);
    if (dataType === undefined)
      throw r.error('bad-field', `flags ${hex(flags)} need exactly one DATA bit`, 'flags', 4);
    if (start + count > 0xffff_ffff)
      throw r.error('bad-field', `start ${start} + count ${count} overflows`, 'count', 16);
    if (count === 0 && start !== 0) throw r.error('bad-field', `count 0 with start ${start}`, 'start', 12);
    if (count === 0 && (action !== 'trigger' || dataType !== 'none')) {
      throw r.error('bad-field', 'count 0 is only valid with DATA_NONE|ACTION_TRIGGER', 'count', 16);
    }
    if (dataType === 'eventfd') {
      if (fds.length !== 0 && fds.length !== count) {
        throw r.error('bad-fds', `${fds.length} eventfds for count ${count}`, 'fds');
      }
    } else if (fds.length > 0) {
      throw r.error('bad-fds', `${fds.length} fd(s) attached without DATA_EVENTFD`, 'fds');
    }
    if (dataType === 'bool') {
      r.exact(20 + count, 'DATA_BOOL with one byte per sub-index');
      r.argszAtLeast(argsz, 20 + count);
      return { argsz, action, dataType, index, start, count, data: r.view8(20, count, 'data') };
    }
    r.exact(20, 'the DEVICE_SET_IRQS struct');
    r.argszAtLeast(argsz, 20);
    return { argsz, action, dataType, index, start, count };
  },
  requestSize: (q) => 20 + (q.dataType === 'bool' ? q.count : 0),
  encodeRequest(w, q) {
    if (
      (q.dataType === 'bool') !== (q.data !== undefined) ||
      (q.data !== undefined && q.data.length !== q.count)
    ) {
      throw encodeError(
        'DEVICE_SET_IRQS',
        'DATA_BOOL needs `data` of `count` bytes, other types none',
        'data',
      );
    }
    w.u32(0, q.argsz, 'argsz');
    w.u32(4, irqSetFlags(q.action, q.dataType), 'flags');
    w.u32(8, q.index, 'index');
    w.u32(12, q.start, 'start');
    w.u32(16, q.count, 'count');
    if (q.data) w.bytesAt(20, q.data);
  },
  describeRequest(q) {
    const f: DescribedField[] = [
      ['argsz', String(q.argsz)],
      ['flags', `DATA_${q.dataType.toUpperCase()}|ACTION_${q.action.toUpperCase()}`],
      ['index', `${q.index}(${vfioPciIrqName(q.index)})`],
      ['start', String(q.start)],
      ['count', String(q.count)],
    ];
    if (q.data) f.push(['data', hexBytes(q.data)]);
    return f;
  },
  decodeReply: emptyPayload.decode,
  replySize: emptyPayload.size,
  encodeReply: emptyPayload.encode,
  describeReply: emptyPayload.describe,
};
