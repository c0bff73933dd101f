/**
 * Interrupts: eventfds bound to vectors with DEVICE_SET_IRQS (in runs of at most the server's
 * `max_msg_fds`), masking, unmasking and loopback triggers, and delivery of each signal.
 */
import { Command, type NegotiatedCapabilities, StructSize } from '@vfu/protocol';
import { EventFd } from '@vfu/sys';
import { ClientError } from './errors';
import type { ClientLink } from './link';
import type { IrqInfo } from './replies';

/** Interrupt kinds by IRQ index. */
export type InterruptKind = 'intx' | 'msi' | 'msix' | 'err' | 'req';

const KIND_BY_INDEX: readonly InterruptKind[] = ['intx', 'msi', 'msix', 'err', 'req'];

/** Delivers one signalled vector to the client's listeners. */
export type DeliverInterrupt = (index: number, kind: InterruptKind, vector: number, count: bigint) => void;

interface SetIrqsBody {
  action: 'mask' | 'unmask' | 'trigger';
  dataType: 'none' | 'bool' | 'eventfd';
  index: number;
  start: number;
  count: number;
  data?: Uint8Array;
}

/** The eventfds and SET_IRQS requests of one client. */
export class Interrupts {
  readonly #link: ClientLink;
  readonly #irqs: readonly IrqInfo[];
  readonly #negotiated: NegotiatedCapabilities;
  readonly #passFds: boolean;
  readonly #deliver: DeliverInterrupt;
  readonly #irqFds = new Map<number, (EventFd | undefined)[]>();
  #refed = true;

  constructor(
    link: ClientLink,
    irqs: readonly IrqInfo[],
    negotiated: NegotiatedCapabilities,
    passFds: boolean,
    deliver: DeliverInterrupt,
  ) {
    this.#link = link;
    this.#irqs = irqs;
    this.#negotiated = negotiated;
    this.#passFds = passFds;
    this.#deliver = deliver;
  }

  async enable(index: number, options: { start?: number; count?: number }): Promise<void> {
    const irq = this.#irq(index);
    const start = options.start ?? 0;
    const count = options.count ?? irq.count - start;
    this.#checkVectors(irq, start, count);
    if (count === 0) return;
    const maxFds = this.#negotiated.maxSendFds;
    if (!this.#passFds || maxFds < 1) {
      throw new ClientError(
        'not-supported',
        'interrupts need eventfds, and fd passing is disabled for this session',
        {
          command: Command.DeviceSetIrqs,
          irqIndex: index,
        },
      );
    }
    const slots = this.#irqFds.get(index) ?? new Array<EventFd | undefined>(irq.count).fill(undefined);
    this.#irqFds.set(index, slots);
    const kind = KIND_BY_INDEX[index] ?? 'req';
    const created: EventFd[] = [];
    try {
      for (let v = start; v < start + count; v += maxFds) {
        const n = Math.min(maxFds, start + count - v);
        const fds: EventFd[] = [];
        for (let i = 0; i < n; i++) {
          const efd = EventFd.create();
          created.push(efd);
          fds.push(efd);
        }
        await this.#setIrqs({ action: 'trigger', dataType: 'eventfd', index, start: v, count: n }, fds);
        fds.forEach((efd, i) => {
          const vector = v + i;
          slots[vector]?.close();
          slots[vector] = efd;
          efd.onSignal((value) => this.#deliver(index, kind, vector, value));
          if (!this.#refed) efd.unref();
        });
      }
    } catch (error) {
      for (const efd of created) if (!slots.includes(efd)) efd.close();
      throw error;
    }
  }

  async disable(index: number): Promise<void> {
    this.#irq(index);
    await this.#setIrqs({ action: 'trigger', dataType: 'none', index, start: 0, count: 0 });
    this.#closeIrqFds(index);
  }

  async maskOrUnmask(
    action: 'mask' | 'unmask',
    index: number,
    start: number,
    count: number,
    which?: readonly boolean[],
  ): Promise<void> {
    const irq = this.#irq(index);
    this.#checkVectors(irq, start, count);
    if (count === 0)
      throw new ClientError('invalid-argument', `${action} needs count >= 1`, { irqIndex: index });
    await this.#setIrqsWithData(action, index, start, count, which);
  }

  async trigger(index: number, start: number, count: number, which?: readonly boolean[]): Promise<void> {
    const irq = this.#irq(index);
    this.#checkVectors(irq, start, count);
    if (count === 0)
      throw new ClientError('invalid-argument', 'triggering needs count >= 1', { irqIndex: index });
    await this.#setIrqsWithData('trigger', index, start, count, which);
  }

  unref(): void {
    this.#refed = false;
    for (const slots of this.#irqFds.values()) for (const efd of slots) efd?.unref();
  }

  ref(): void {
    this.#refed = true;
    for (const slots of this.#irqFds.values()) for (const efd of slots) efd?.ref();
  }

  /** Closes every eventfd. */
  closeAll(): void {
    for (const index of [...this.#irqFds.keys()]) this.#closeIrqFds(index);
  }

  #closeIrqFds(index: number): void {
    const slots = this.#irqFds.get(index);
    if (slots === undefined) return;
    for (const efd of slots) {
      efd?.onSignal(null);
      efd?.close();
    }
    this.#irqFds.delete(index);
  }

  #irq(index: number): IrqInfo {
    const irq = this.#irqs[index];
    if (irq === undefined) {
      throw new ClientError(
        'not-supported',
        `IRQ index ${index} does not exist (device has ${this.#irqs.length})`,
        {
          command: Command.DeviceSetIrqs,
          irqIndex: index,
        },
      );
    }
    return irq;
  }

  #checkVectors(irq: IrqInfo, start: number, count: number): void {
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(count) ||
      start < 0 ||
      count < 0 ||
      start + count > irq.count
    ) {
      throw new ClientError(
        'out-of-range',
        `vectors ${start}..${start + count - 1} outside ${irq.name}'s ${irq.count}`,
        {
          command: Command.DeviceSetIrqs,
          irqIndex: irq.index,
        },
      );
    }
  }

  async #setIrqsWithData(
    action: 'mask' | 'unmask' | 'trigger',
    index: number,
    start: number,
    count: number,
    which?: readonly boolean[],
  ): Promise<void> {
    if (which === undefined) {
      await this.#setIrqs({ action, dataType: 'none', index, start, count });
      return;
    }
    if (which.length !== count) {
      throw new ClientError('invalid-argument', `${count} vectors but ${which.length} booleans`, {
        irqIndex: index,
      });
    }
    const data = Uint8Array.from(which, (b) => (b ? 1 : 0));
    await this.#setIrqs({ action, dataType: 'bool', index, start, count, data });
  }

  async #setIrqs(body: SetIrqsBody, fds: readonly EventFd[] = []): Promise<void> {
    const argsz = StructSize.IrqSet + (body.data?.length ?? 0);
    await this.#link.call(
      Command.DeviceSetIrqs,
      { argsz, ...body },
      {
        ...(fds.length > 0 ? { fds } : {}),
        irqIndex: body.index,
      },
    );
  }
}
