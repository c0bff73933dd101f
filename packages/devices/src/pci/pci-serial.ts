import { MemoryRegion } from '@vfu/memory';
import { PciDevice, type PciDeviceInit, prop, type ResetKind } from '@vfu/pci';
import type { CharBackend } from '../chardev/char-backend';
import { SocketCharBackend } from '../chardev/socket';
import { createCharBackend, parseChardevSpec } from '../chardev/spec';
import { DeviceError } from '../errors';
import { silentDeviceLog } from '../interfaces';
import { PCI_SERIAL_PCI_IDS, SERIAL_DEFAULT_BAUDBASE, SERIAL_IO_SIZE, Serial16550 } from '../serial-16550';
import type { ZooContext } from './context';
import { intxLine } from './wiring';

/** Properties of `-device pci-serial`. */
export const pciSerialProperties = {
  chardev: prop.string({
    default: 'null',
    description: 'character backend: null, memory, stdio, file:PATH[,append], socket:PATH, or a -chardev id',
  }),
  baudbase: prop.uint32({ default: SERIAL_DEFAULT_BAUDBASE, min: 1, description: 'UART input clock / 16' }),
} as const;

/** Property schema type of {@link PciSerialDevice}. */
export type PciSerialProperties = typeof pciSerialProperties;

/**
 * `pci-serial` on a PCI bus: 1b36:0002 rev 1, class 0x070002 (16550-compatible serial
 * controller), BAR0 8 bytes of I/O, INTx pin A. Linux's `8250_pci` driver binds it.
 *
 * The backend is opened at realize from the `chardev` property and closed at unrealize (unless it
 * came from the application's `-chardev` table, which owns it).
 */
export class PciSerialDevice extends PciDevice {
  /** The UART behind BAR0. */
  readonly uart: Serial16550;
  #chardev: CharBackend | undefined;
  #ownsChardev = false;
  #ready: Promise<void> = Promise.resolve();
  readonly #context: ZooContext;

  constructor(init: PciDeviceInit<PciSerialProperties>, context: ZooContext = {}) {
    super(init, { ...PCI_SERIAL_PCI_IDS, interruptPin: 1 });
    this.#context = context;
    this.uart = new Serial16550({
      irq: intxLine(this),
      baudbase: init.props.baudbase,
      ...(context.clock === undefined ? {} : { clock: context.clock }),
      ...(context.log === undefined ? {} : { log: context.log }),
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

  protected override realizePci(): void {
    const value = this.getProperty('chardev') as string;
    let backend: CharBackend;
    try {
      const spec = parseChardevSpec(value);
      backend = createCharBackend(spec, this.#context.resolveChardev);
      this.#ownsChardev = spec.kind !== 'id';
    } catch (cause) {
      throw new DeviceError(
        'invalid-property',
        `pci-serial: chardev '${value}': ${(cause as Error).message}`,
        {
          deviceType: 'pci-serial',
          ...(this.id === undefined ? {} : { deviceId: this.id }),
          property: 'chardev',
          value,
          cause,
        },
      );
    }
    this.#chardev = backend;
    if (backend instanceof SocketCharBackend) {
      this.#ready = backend.ready;
      const log = this.#context.log ?? silentDeviceLog;
      backend.ready.catch((e: unknown) =>
        log.guestError({
          device: 'pci-serial',
          message: `chardev unusable: ${String((e as Error).message)}`,
        }),
      );
    }
    const uart = this.uart;
    uart.setChardev(backend);
    const region = MemoryRegion.io(
      'serial',
      BigInt(SERIAL_IO_SIZE),
      {
        read: (offset, size) => uart.read(offset, size),
        write: (offset, value, size) => uart.write(offset, value, size),
        impl: { minAccessSize: 1, maxAccessSize: 1 },
      },
      { owner: this },
    );
    this.registerBar(0, { kind: 'io', region });
  }

  protected override unrealizePci(): void {
    this.uart.reset('cold');
    this.uart.setChardev(undefined);
    const backend = this.#chardev;
    this.#chardev = undefined;
    if (backend !== undefined && this.#ownsChardev) {
      // Closing is asynchronous (sockets); nothing waits on it, and a failure leaves nothing to undo.
      backend.close().catch(() => {});
    }
  }

  protected override resetPci(kind: ResetKind): void {
    this.uart.reset(kind);
  }
}
