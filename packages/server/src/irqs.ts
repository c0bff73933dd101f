/**
 * Interrupt delivery to the client (DEVICE_GET_IRQ_INFO / DEVICE_SET_IRQS).
 *
 * The PCI layer applies the device-side rules (enables, MSI/MSI-X masks, PBA) and calls the bus's
 * InterruptSink; this controller is that sink. Per vfio IRQ index (INTx, MSI, MSI-X, ERR, REQ) it
 * keeps, for each sub-index, the client's trigger eventfd, a vfio-level mask bit and a pending bit:
 * - an interrupt for a sub-index with a trigger and no mask writes 1 to the eventfd;
 * - otherwise it is recorded as pending and delivered when a trigger is assigned or the sub-index
 *   is unmasked (MSI/MSI-X edges once; INTx only while the line is still asserted).
 * INTx is level-triggered and AUTOMASKED as in Linux vfio-pci: each delivery masks it until the
 * client sends UNMASK (or signals the unmask eventfd it gave), so an asserted line is not lost and
 * does not storm.
 */
import type { InterruptSink, PciDevice } from '@vfu/pci';
import {
  type DeviceSetIrqsRequest,
  IrqInfoFlags,
  VFIO_PCI_NUM_IRQS,
  VfioPciIrq,
  vfioPciIrqName,
} from '@vfu/protocol';
import { EventFd, type OwnedFd } from '@vfu/sys';
import { reject } from './errors';

/** Per-index state. */
interface IrqIndexState {
  triggers: (EventFd | undefined)[];
  masked: boolean[];
  pending: boolean[];
}

/** What the controller needs to know about the endpoint. */
export interface IrqHost {
  /** The served device (interrupts of other functions on the bus are ignored). */
  readonly device: PciDevice | undefined;
  /** Reports a delivery problem (an eventfd that could not be written). */
  warn(message: string, ctx?: object): void;
}

/** Snapshot of one index, for tests and introspection. */
export interface IrqIndexSnapshot {
  index: number;
  count: number;
  triggers: boolean[];
  masked: boolean[];
  pending: boolean[];
}

/** Interrupt state of one endpoint: the bus's InterruptSink and the SET_IRQS semantics. */
export class IrqController {
  readonly #host: IrqHost;
  readonly #indexes: IrqIndexState[] = [];
  /** INTx line level as last reported by the device. */
  #intxLevel = false;
  /** INTx unmask eventfd (DATA_EVENTFD | ACTION_UNMASK). */
  #intxUnmaskFd: EventFd | undefined;
  /** The InterruptSink installed on the endpoint's root bus. */
  readonly sink: InterruptSink;

  constructor(host: IrqHost) {
    this.#host = host;
    for (let i = 0; i < VFIO_PCI_NUM_IRQS; i++) this.#indexes.push({ triggers: [], masked: [], pending: [] });
    this.sink = {
      intx: (device, level) => {
        if (device !== this.#host.device) return;
        this.#intxLevel = level;
        if (level) this.#deliver(VfioPciIrq.Intx, 0);
        else this.#state(VfioPciIrq.Intx).pending[0] = false;
      },
      msi: (device, vector) => {
        if (device === this.#host.device) this.#deliver(VfioPciIrq.Msi, vector);
      },
      msix: (device, vector) => {
        if (device === this.#host.device) this.#deliver(VfioPciIrq.Msix, vector);
      },
    };
  }

  /** Number of sub-indexes of `index` for the current device (GET_IRQ_INFO `count`). */
  count(index: number): number {
    const device = this.#host.device;
    if (device === undefined) return 0;
    const info = device.irqInfo();
    switch (index) {
      case VfioPciIrq.Intx:
        return info.intxCount;
      case VfioPciIrq.Msi:
        return info.msiVectors;
      case VfioPciIrq.Msix:
        return info.msixVectors;
      case VfioPciIrq.Err:
      case VfioPciIrq.Req:
        return 1;
      default:
        return 0;
    }
  }

  /** GET_IRQ_INFO flags of `index`. */
  flags(index: number): number {
    switch (index) {
      case VfioPciIrq.Intx:
        return IrqInfoFlags.Eventfd | IrqInfoFlags.Maskable | IrqInfoFlags.Automasked;
      case VfioPciIrq.Msi:
      case VfioPciIrq.Msix:
        return IrqInfoFlags.Eventfd | IrqInfoFlags.Maskable | IrqInfoFlags.NoResize;
      default:
        return IrqInfoFlags.Eventfd;
    }
  }

  /**
   * Applies a DEVICE_SET_IRQS request. Validation first (libvfio-user's rules, EINVAL); `fds` are
   * the eventfds that came with it, which this call takes over (closing those it does not keep).
   */
  setIrqs(q: DeviceSetIrqsRequest, fds: OwnedFd[]): void {
    try {
      this.#validate(q, fds.length);
    } catch (e) {
      for (const fd of fds) fd.close();
      throw e;
    }
    const st = this.#state(q.index);
    if (q.count === 0) {
      // DATA_NONE | ACTION_TRIGGER with count 0: disable every interrupt of the index.
      this.#releaseIndex(q.index);
      return;
    }
    const range = (fn: (v: number, i: number) => void) => {
      for (let i = 0; i < q.count; i++) {
        if (q.dataType === 'bool' && q.data?.[i] === 0) continue;
        fn(q.start + i, i);
      }
    };
    if (q.dataType === 'eventfd') {
      if (q.action === 'trigger') {
        for (let i = 0; i < q.count; i++) {
          const v = q.start + i;
          st.triggers[v]?.close();
          const fd = fds[i];
          st.triggers[v] = fd === undefined ? undefined : EventFd.adopt(fd);
        }
        // A trigger that appears delivers what waited for it.
        range((v) => this.#flush(q.index, v));
        return;
      }
      // Only INTx unmask-by-eventfd is accepted (validated above).
      this.#intxUnmaskFd?.close();
      this.#intxUnmaskFd = undefined;
      const fd = fds[0];
      if (fd !== undefined) {
        const efd = EventFd.adopt(fd);
        efd.unref();
        efd.onSignal(() => this.#unmask(VfioPciIrq.Intx, 0));
        this.#intxUnmaskFd = efd;
      }
      return;
    }
    switch (q.action) {
      case 'mask':
        range((v) => {
          st.masked[v] = true;
        });
        return;
      case 'unmask':
        range((v) => this.#unmask(q.index, v));
        return;
      case 'trigger':
        // Loopback: the client asks the server to fire these interrupts.
        range((v) => this.#deliver(q.index, v));
        return;
    }
  }

  /** Fires ERR or REQ (or any sub-index) towards the client, as the device would. */
  raise(index: number, subIndex = 0): void {
    this.#deliver(index, subIndex);
  }

  /** Clears pending state and vfio-level masks (device reset); eventfds stay assigned. */
  resetState(): void {
    for (const st of this.#indexes) {
      st.masked = [];
      st.pending = [];
    }
    this.#intxLevel = false;
  }

  /** Closes every eventfd the client gave and forgets all state (client gone). */
  releaseAll(): void {
    for (let i = 0; i < VFIO_PCI_NUM_IRQS; i++) this.#releaseIndex(i);
    this.#intxUnmaskFd?.close();
    this.#intxUnmaskFd = undefined;
  }

  /** Number of eventfds held (triggers and the INTx unmask fd). */
  get eventFdCount(): number {
    let n = this.#intxUnmaskFd === undefined ? 0 : 1;
    for (const st of this.#indexes) for (const t of st.triggers) if (t !== undefined) n++;
    return n;
  }

  /** State of `index`, for tests and introspection. */
  snapshot(index: number): IrqIndexSnapshot {
    const st = this.#state(index);
    const count = this.count(index);
    const list = (a: readonly unknown[]) => Array.from({ length: count }, (_, i) => Boolean(a[i]));
    return {
      index,
      count,
      triggers: list(st.triggers),
      masked: list(st.masked),
      pending: list(st.pending),
    };
  }

  #state(index: number): IrqIndexState {
    const st = this.#indexes[index];
    if (st === undefined) throw reject(`IRQ index ${index} out of range`);
    return st;
  }

  #validate(q: DeviceSetIrqsRequest, fdCount: number): void {
    if (q.index >= VFIO_PCI_NUM_IRQS)
      throw reject(`IRQ index ${q.index} is not one of the ${VFIO_PCI_NUM_IRQS}`);
    const name = vfioPciIrqName(q.index);
    const count = this.count(q.index);
    if (q.count === 0) return; // disable-all, already checked by the decoder (start 0, NONE|TRIGGER)
    if (q.start >= count || q.start + q.count > count) {
      throw reject(`${name} sub-indexes ${q.start}..${q.start + q.count - 1} beyond its count ${count}`);
    }
    if ((q.index === VfioPciIrq.Err || q.index === VfioPciIrq.Req) && q.action !== 'trigger') {
      throw reject(`${name} accepts only ACTION_TRIGGER`);
    }
    if (q.dataType === 'eventfd' && q.action !== 'trigger') {
      // Linux vfio-pci: an unmask eventfd exists for INTx only; masking by eventfd nowhere.
      if (q.index !== VfioPciIrq.Intx || q.action !== 'unmask') {
        throw reject(`DATA_EVENTFD with ACTION_${q.action.toUpperCase()} is not supported for ${name}`);
      }
      if (fdCount > 1) throw reject('INTx takes one unmask eventfd');
    }
    if (q.dataType === 'eventfd' && fdCount !== 0 && fdCount !== q.count) {
      throw reject(`${fdCount} eventfds for count ${q.count}`);
    }
  }

  #releaseIndex(index: number): void {
    const st = this.#state(index);
    for (const t of st.triggers) t?.close();
    st.triggers = [];
    st.masked = [];
    st.pending = [];
  }

  #deliver(index: number, v: number): void {
    const st = this.#state(index);
    const trigger = st.triggers[v];
    if (trigger === undefined || st.masked[v] === true) {
      st.pending[v] = true;
      return;
    }
    st.pending[v] = false;
    if (index === VfioPciIrq.Intx) st.masked[v] = true; // automasked until the client unmasks
    this.#signal(trigger, index, v);
  }

  #unmask(index: number, v: number): void {
    const st = this.#state(index);
    st.masked[v] = false;
    this.#flush(index, v);
  }

  /** Delivers a pending interrupt if it can go now. */
  #flush(index: number, v: number): void {
    const st = this.#state(index);
    if (index === VfioPciIrq.Intx) {
      // Level-triggered: only a line still asserted is worth an interrupt.
      st.pending[v] = false;
      if (this.#intxLevel) this.#deliver(index, v);
      return;
    }
    if (st.pending[v] === true) this.#deliver(index, v);
  }

  #signal(trigger: EventFd, index: number, v: number): void {
    try {
      // false = the counter is saturated: the client has not read it yet, the interrupt is not lost.
      trigger.signal(1n);
    } catch (e) {
      this.#host.warn(`cannot signal ${vfioPciIrqName(index)}[${v}] eventfd`, { cause: e });
    }
  }
}
