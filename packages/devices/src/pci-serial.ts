/**
 * QEMU's `pci-serial` (1b36:0002 rev 1, class 0x070002): one 16550A UART in BAR0 (8 bytes of
 * I/O) on INTx pin A, its character backend opened at realize from the `chardev` property and
 * closed at unrealize (unless it came from the application's `-chardev` table, which owns it).
 * Linux's `8250_pci` driver binds it.
 */
import { prop } from '@vfu/pci';
import { defineVmState, vm } from '@vfu/vmstate';
import type { DeviceContext } from './api/context';
import { defineDevice } from './api/define-device';
import { deviceState } from './api/state';
import type { CharBackend } from './chardev/char-backend';
import { SocketCharBackend } from './chardev/socket';
import { createCharBackend, parseChardevSpec } from './chardev/spec';
import { DeviceError } from './errors';
import {
  PCI_SERIAL_PCI_IDS,
  SERIAL_DEFAULT_BAUDBASE,
  SERIAL_FIFO_SIZE,
  SERIAL_IO_SIZE,
  Serial16550,
} from './serial-16550';

/** Properties of `-device pci-serial`. */
export const pciSerialProperties = {
  chardev: prop.string({
    default: 'null',
    description: 'character backend: null, memory, stdio, file:PATH[,append], socket:PATH, or a -chardev id',
  }),
  baudbase: prop.uint32({ default: SERIAL_DEFAULT_BAUDBASE, min: 1, description: 'UART input clock / 16' }),
} as const;

/** The pci-serial core: the UART and its character backend. */
export class PciSerial {
  /** The UART behind BAR0. */
  readonly uart: Serial16550;
  readonly #ctx: DeviceContext<{ chardev: string }>;
  #chardev: CharBackend | undefined;
  #ownsChardev = false;
  #ready: Promise<void> = Promise.resolve();

  constructor(ctx: DeviceContext<{ chardev: string; baudbase: number }>) {
    this.#ctx = ctx;
    this.uart = new Serial16550({
      irq: ctx.irq.intx,
      baudbase: ctx.props.baudbase,
      clock: ctx.clock,
      log: ctx.log,
    });
  }

  /** The connected backend (after realize). */
  get chardev(): CharBackend | undefined {
    return this.#chardev;
  }

  /** Resolves once the backend is usable (a socket listens); rejects with its `DeviceError`. */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** Opens the backend named by the `chardev` property and attaches the UART to it. */
  connect(): void {
    const value = this.#ctx.props.chardev;
    let backend: CharBackend;
    try {
      const spec = parseChardevSpec(value);
      backend = createCharBackend(spec, this.#ctx.host.resolveChardev);
      this.#ownsChardev = spec.kind !== 'id';
    } catch (cause) {
      throw new DeviceError(
        'invalid-property',
        `pci-serial: chardev '${value}': ${(cause as Error).message}`,
        {
          deviceType: 'pci-serial',
          ...(this.#ctx.id === undefined ? {} : { deviceId: this.#ctx.id }),
          property: 'chardev',
          value,
          cause,
        },
      );
    }
    this.#chardev = backend;
    if (backend instanceof SocketCharBackend) {
      this.#ready = backend.ready;
      backend.ready.catch((e: unknown) =>
        this.#ctx.guestError({ message: `chardev unusable: ${String((e as Error).message)}` }),
      );
    }
    this.uart.setChardev(backend);
  }

  /** Detaches the UART and closes the backend if this device opened it. */
  disconnect(): void {
    this.uart.reset('cold');
    this.uart.setChardev(undefined);
    const backend = this.#chardev;
    this.#chardev = undefined;
    if (backend !== undefined && this.#ownsChardev) {
      // Closing is asynchronous (sockets); nothing waits on it, and a failure leaves nothing to undo.
      backend.close().catch(() => {});
    }
  }
}

/** The 16550's state: registers, receive FIFO and pending interrupts (the backend stays with the host). */
export const serialVmState = defineVmState({
  name: 'serial',
  version: 1,
  fields: {
    divisor: vm.u16(),
    rbr: vm.u8(),
    ier: vm.u8(),
    fcr: vm.u8(),
    lcr: vm.u8(),
    mcr: vm.u8(),
    lsr: vm.u8(),
    msr: vm.u8(),
    scr: vm.u8(),
    receiveFifo: vm.array(vm.u8(), { maxLength: SERIAL_FIFO_SIZE }),
    thrInterruptPending: vm.bool(),
    timeoutInterruptPending: vm.bool(),
  },
});

/** `-device pci-serial`. */
export const pciSerialDevice = defineDevice({
  name: 'pci-serial',
  description: 'PCI 16550A serial adapter (1b36:0002)',
  category: 'Input devices',
  identity: { ...PCI_SERIAL_PCI_IDS, interruptPin: 1 },
  properties: pciSerialProperties,
  create: (ctx) => new PciSerial(ctx),
  bars: ({ uart }) => [
    {
      index: 0,
      kind: 'io',
      size: SERIAL_IO_SIZE,
      ops: {
        read: (offset, size) => uart.read(offset, size),
        write: (offset, value, size) => uart.write(offset, value, size),
        impl: { minAccessSize: 1, maxAccessSize: 1 },
      },
    },
  ],
  realize: (serial) => serial.connect(),
  unrealize: (serial) => serial.disconnect(),
  reset: (serial, kind) => serial.uart.reset(kind),
  state: deviceState({
    schema: serialVmState,
    save: (serial: PciSerial) => serial.uart.saveState(),
    load: (serial: PciSerial, v) => serial.uart.restoreState(v),
  }),
});
