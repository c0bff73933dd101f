/**
 * What a device core is handed: its properties, interrupts, DMA, clock and log. A core only sees
 * this interface, so it runs on a PCI bus ({@link DefinedPciDevice}) or alone in a unit test
 * ({@link detachedContext}) without change.
 */
import type { PciDevice } from '@vfu/pci';
import type { DeviceBlockBackend } from '../block-backend';
import type { CharBackend } from '../chardev/char-backend';
import { createHostClock } from '../clock';
import {
  type DeviceClock,
  type DeviceLog,
  type DmaAccess,
  type DmaResult,
  disconnectedInterruptLine,
  type GuestErrorEvent,
  type InterruptLine,
  type MsiNotifier,
  noDma,
  noMsi,
  silentDeviceLog,
} from '../interfaces';

/**
 * What the application gives every device once, at registration: shared clock and log, and how
 * `chardev=<id>` references resolve. Everything is optional; devices then use the host clock, a
 * silent log and only the built-in chardev kinds.
 */
export interface HostContext {
  /** Time source of every device created (default: the host event loop). */
  clock?: DeviceClock;
  /** Where devices report guest errors (default: nowhere; pass `consoleDeviceLog` for stderr). */
  log?: DeviceLog;
  /** Resolves `chardev=<id>` to a backend the application created (`-chardev ...,id=<id>`). */
  resolveChardev?: (id: string) => CharBackend | undefined;
  /**
   * Resolves `drive=<node-name>` to a block backend the application opened (`-blockdev`) and
   * marks it in use by device `deviceId`; `undefined` when no such node exists. Throws when the
   * node is in use by another device.
   */
  resolveBlockdev?: (nodeName: string, deviceId: string) => DeviceBlockBackend | undefined;
  /** The device no longer uses the node (unrealize, device_del). */
  releaseBlockdev?: (nodeName: string, deviceId: string) => void;
}

/** An MSI-X table as a device core uses it: one vector per queue, masking, pending bits. */
export interface MsixNotifier extends MsiNotifier {
  /** Table size (0 without an MSI-X capability). */
  readonly vectors: number;
  /** Whether `vector` is masked (by its entry or the function mask); a notify then sets pending. */
  isMasked(vector: number): boolean;
}

/** The interrupt outputs of a device. */
export interface DeviceInterrupts {
  /** INTx pin (level). */
  readonly intx: InterruptLine;
  /** MSI capability. */
  readonly msi: MsiNotifier;
  /** MSI-X capability. */
  readonly msix: MsixNotifier;
}

/** Bus-master DMA of a device. */
export interface DeviceDma extends DmaAccess {
  /**
   * A view of guest memory backing `length` bytes at `address` when that range is plain RAM
   * (the client shared its memory by fd), for zero-copy transfers; `undefined` otherwise (then
   * use `read`/`write`). Valid only until the guest's memory map changes: do not keep it.
   */
  map(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined;
}

/** What {@link DeviceDefinition.create} receives. `P` is the property values' type. */
export interface DeviceContext<P> {
  /** Device type name (`-device` driver), e.g. `edu`. */
  readonly type: string;
  /** User-given id, if any. */
  readonly id: string | undefined;
  /** Parsed properties, defaults filled in. */
  readonly props: Readonly<P>;
  readonly clock: DeviceClock;
  readonly log: DeviceLog;
  readonly irq: DeviceInterrupts;
  readonly dma: DeviceDma;
  /** The application's context (chardev table...). */
  readonly host: HostContext;
  /** The PCI function when the core runs on a bus; `undefined` in a detached core. */
  readonly pci: PciDevice | undefined;
  /** Logs a guest error against this device (the device name is filled in). */
  guestError(event: Omit<GuestErrorEvent, 'device'>): void;
}

/** What {@link detachedContext} may be given; the rest is disconnected. */
export interface DetachedContextOptions extends HostContext {
  id?: string;
  irq?: Partial<DeviceInterrupts>;
  dma?: DmaAccess & { map?: DeviceDma['map'] };
}

const noMsix: MsixNotifier = Object.freeze({
  vectors: 0,
  isEnabled: () => false,
  isMasked: () => true,
  notify(): void {},
});

/** A context for a core outside PCI (unit tests, tools): what is not given is disconnected. */
export function detachedContext<P>(
  type: string,
  props: P,
  options: DetachedContextOptions = {},
): DeviceContext<P> {
  const log = options.log ?? silentDeviceLog;
  const dma = options.dma ?? noDma;
  const map = options.dma?.map;
  return {
    type,
    id: options.id,
    props,
    clock: options.clock ?? createHostClock(),
    log,
    irq: {
      intx: options.irq?.intx ?? disconnectedInterruptLine,
      msi: options.irq?.msi ?? noMsi,
      msix: options.irq?.msix ?? noMsix,
    },
    dma: {
      read: (a, d) => dma.read(a, d),
      write: (a, d) => dma.write(a, d),
      map: (a, l, w) => map?.(a, l, w),
    },
    host: options,
    pci: undefined,
    guestError: (event) => log.guestError({ device: type, ...event }),
  };
}

/** The context of a core running on PCI function `pci`. */
export function pciContext<P>(type: string, props: P, pci: PciDevice, host: HostContext): DeviceContext<P> {
  const log = host.log ?? silentDeviceLog;
  return {
    type,
    id: pci.id,
    props,
    clock: host.clock ?? createHostClock(),
    log,
    irq: {
      intx: { setLevel: (asserted) => pci.setIrq(asserted) },
      msi: {
        isEnabled: () => pci.msi?.enabled ?? false,
        notify: (vector) => {
          if (pci.msi !== undefined) pci.msiNotify(vector);
        },
      },
      msix: {
        get vectors() {
          return pci.msix?.vectors ?? 0;
        },
        isEnabled: () => pci.msix?.enabled ?? false,
        isMasked: (vector) => pci.msix?.isMasked(vector) ?? true,
        notify: (vector) => {
          if (pci.msix !== undefined) pci.msixNotify(vector);
        },
      },
    },
    dma: {
      // Outside realize (no bus-master space) every access is a decode error.
      read: (address, dest): Promise<DmaResult> =>
        pci.realized ? pci.dmaRead(address, dest) : Promise.resolve('decode-error'),
      write: (address, data): Promise<DmaResult> =>
        pci.realized ? pci.dmaWrite(address, data) : Promise.resolve('decode-error'),
      map: (address, length, forWrite) => {
        if (!pci.realized || length === 0) return undefined;
        const view = pci.busMasterAddressSpace.translateRam(address, length, forWrite);
        return view !== undefined && view.length >= length ? view.subarray(0, length) : undefined;
      },
    },
    host,
    pci,
    guestError: (event) => log.guestError({ device: type, ...event }),
  };
}
