import type {
  DeviceLog,
  DmaAccess,
  DmaResult,
  GuestErrorEvent,
  InterruptLine,
  MsiNotifier,
} from '../src/index';

/** A log that keeps every event. */
export class RecordingLog implements DeviceLog {
  readonly guestErrors: GuestErrorEvent[] = [];
  readonly unimplementedEvents: GuestErrorEvent[] = [];
  guestError(event: GuestErrorEvent): void {
    this.guestErrors.push(event);
  }
  unimplemented(event: GuestErrorEvent): void {
    this.unimplementedEvents.push(event);
  }
}

/** An interrupt line that records its level and every transition. */
export class RecordingIrq implements InterruptLine {
  level = false;
  readonly history: boolean[] = [];
  setLevel(asserted: boolean): void {
    this.level = asserted;
    this.history.push(asserted);
  }
}

/** MSI that can be enabled by the test and records notified vectors. */
export class RecordingMsi implements MsiNotifier {
  enabled = false;
  readonly vectors: number[] = [];
  isEnabled(): boolean {
    return this.enabled;
  }
  notify(vector: number): void {
    this.vectors.push(vector);
  }
}

/**
 * Guest RAM at bus address `base` for DMA; accesses outside it are decode errors, as are all
 * accesses while `busMaster` is false. Completes on a later microtask like a real async DMA.
 */
export class FakeDma implements DmaAccess {
  busMaster = true;
  readonly reads: { address: bigint; length: number }[] = [];
  readonly writes: { address: bigint; length: number }[] = [];
  constructor(
    readonly ram: Uint8Array,
    readonly base = 0n,
  ) {}
  async read(address: bigint, dest: Uint8Array): Promise<DmaResult> {
    await Promise.resolve();
    this.reads.push({ address, length: dest.length });
    const at = this.offset(address, dest.length);
    if (at === undefined) return 'decode-error';
    dest.set(this.ram.subarray(at, at + dest.length));
    return 'ok';
  }
  async write(address: bigint, data: Uint8Array): Promise<DmaResult> {
    await Promise.resolve();
    this.writes.push({ address, length: data.length });
    const at = this.offset(address, data.length);
    if (at === undefined) return 'decode-error';
    this.ram.set(data, at);
    return 'ok';
  }
  private offset(address: bigint, length: number): number | undefined {
    if (!this.busMaster) return undefined;
    if (address < this.base || address + BigInt(length) > this.base + BigInt(this.ram.length))
      return undefined;
    return Number(address - this.base);
  }
}

/** Let pending promise callbacks run. */
export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
