/**
 * The small interfaces device cores are given at construction: an interrupt line, MSI, a DMA
 * engine, a clock and a log. The cores do no I/O of their own, so the same model runs under the
 * PCI layer, in unit tests driven by plain calls, and in any other harness.
 */

/** One access a guest made that the device does not accept, with the context to find it. */
export interface GuestErrorEvent {
  /** Device type (`edu`, `pci-testdev`, `pci-serial`, `pci-idio-16`). */
  device: string;
  /** What went wrong, in a sentence. */
  message: string;
  /** Register name, when the access hit a named register. */
  register?: string;
  /** Offset of the access within its BAR. */
  offset?: number;
  /** Access size in bytes. */
  size?: number;
  /** Value written, when the access was a write. */
  value?: number | bigint;
}

/**
 * Where a device reports guest errors (QEMU's `LOG_GUEST_ERROR`) and use of features it does not
 * model (`LOG_UNIMP`). Implementations must not throw.
 */
export interface DeviceLog {
  /** The guest programmed the device in a way the hardware rejects or leaves undefined. */
  guestError(event: GuestErrorEvent): void;
  /** The guest used a feature the model does not implement. */
  unimplemented?(event: GuestErrorEvent): void;
}

/** A {@link DeviceLog} that drops everything. */
export const silentDeviceLog: DeviceLog = Object.freeze({
  guestError(): void {},
  unimplemented(): void {},
});

/** A {@link DeviceLog} that prints one line per event on stderr, as `qemu -d guest_errors` does. */
export const consoleDeviceLog: DeviceLog = Object.freeze({
  guestError(event: GuestErrorEvent): void {
    console.error(`guest error: ${formatGuestErrorEvent(event)}`);
  },
  unimplemented(event: GuestErrorEvent): void {
    console.error(`unimplemented: ${formatGuestErrorEvent(event)}`);
  },
});

/** One line describing `event`: device, register, offset and size in hex, value, message. */
export function formatGuestErrorEvent(event: GuestErrorEvent): string {
  const where: string[] = [event.device];
  if (event.register !== undefined) where.push(event.register);
  if (event.offset !== undefined) where.push(`+0x${event.offset.toString(16)}`);
  if (event.size !== undefined) where.push(`size ${event.size}`);
  if (event.value !== undefined) where.push(`value 0x${event.value.toString(16)}`);
  return `${where.join(' ')}: ${event.message}`;
}

/**
 * A level-triggered interrupt line: the device's INTx pin as the device drives it. The PCI layer
 * applies COMMAND.INTx-disable and routing; the device only says whether it wants the line high.
 */
export interface InterruptLine {
  /** Drive the line: `true` asserts, `false` deasserts. Repeating a level is harmless. */
  setLevel(asserted: boolean): void;
}

/** An {@link InterruptLine} connected to nothing. */
export const disconnectedInterruptLine: InterruptLine = Object.freeze({ setLevel(): void {} });

/** Message signalled interrupts as a device sees them through its MSI capability. */
export interface MsiNotifier {
  /** Whether the guest enabled MSI in the capability (the device then stops using INTx). */
  isEnabled(): boolean;
  /** Send the message for `vector` (the PCI layer applies masking and pending bits). */
  notify(vector: number): void;
}

/** An {@link MsiNotifier} for a device without MSI: never enabled. */
export const noMsi: MsiNotifier = Object.freeze({
  isEnabled: () => false,
  notify(): void {},
});

/**
 * Outcome of a DMA access, as QEMU's `MemTxResult`: `decode-error` when nothing answers at the
 * address (or bus mastering is off), `access-error` when the target rejected the access.
 */
export type DmaResult = 'ok' | 'decode-error' | 'access-error';

/**
 * The device's view of memory for DMA: its bus-master address space. Accesses are asynchronous
 * because guest memory reached through vfio-user messages completes later.
 */
export interface DmaAccess {
  /** Fill `dest` from bus address `address`. On an error the bytes of `dest` are unspecified. */
  read(address: bigint, dest: Uint8Array): Promise<DmaResult>;
  /** Write `data` at bus address `address`. */
  write(address: bigint, data: Uint8Array): Promise<DmaResult>;
}

/** A {@link DmaAccess} with nothing behind it: every access is a decode error. */
export const noDma: DmaAccess = Object.freeze({
  read: async (): Promise<DmaResult> => 'decode-error',
  write: async (): Promise<DmaResult> => 'decode-error',
});

/** A pending timer; cancel it to stop the callback from running. */
export interface TimerHandle {
  /** Stop the timer. Cancelling a timer that already ran or was cancelled does nothing. */
  cancel(): void;
}

/**
 * The time source of a device (QEMU's virtual clock). Device timing (factorial completion, DMA
 * latency, the UART's receive timeout) goes through it so tests can step time by hand.
 */
export interface DeviceClock {
  /** Current time in nanoseconds, from an arbitrary origin. */
  now(): number;
  /**
   * Run `callback` once, `delayNs` nanoseconds from now; a delay of 0 runs it after the current
   * call stack unwinds (never synchronously inside `setTimer`).
   */
  setTimer(delayNs: number, callback: () => void): TimerHandle;
}

/**
 * Kinds of reset: `cold` is power-on (everything, including memories such as the edu DMA buffer),
 * `warm` a device or bus reset while powered (registers back to their reset values).
 */
export type ResetKind = 'cold' | 'warm';
