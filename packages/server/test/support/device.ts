/**
 * A small PCI device for the server's tests (the device zoo lives elsewhere): registers and a DMA
 * engine in BAR0, an IO BAR, a RAM BAR, MSI-X in BAR4, MSI, INTx and an option ROM.
 */
import { MemoryRegion, type MemTxResult } from '@vfu/memory';
import {
  type DeviceClass,
  DeviceTree,
  DeviceTypeRegistry,
  definePciDeviceClass,
  PciDevice,
  type PciDeviceInit,
} from '@vfu/pci';

/** BAR0 register offsets. */
export const REG = {
  ID: 0x00,
  SCRATCH: 0x04,
  /** Write v: raise interrupt v (MSI-X if enabled, else MSI, else INTx). */
  IRQ_RAISE: 0x08,
  /** Any write: lower INTx. */
  IRQ_LOWER: 0x0c,
  DMA_ADDR_LO: 0x10,
  DMA_ADDR_HI: 0x14,
  DMA_LEN: 0x18,
  /** 1: copy client memory into BUFFER; 2: copy BUFFER to client memory. */
  DMA_CMD: 0x1c,
  /** 0 idle, 1 busy, 2 done, 3 failed. */
  DMA_STATUS: 0x20,
  BUFFER: 0x100,
} as const;

export const DEVICE_ID_VALUE = 0x5e4fe001;
export const BUFFER_SIZE = 0x100;
export const ROM_SIZE = 0x800;

/** The test device. */
export class TestDevice extends PciDevice {
  scratch = 0;
  ioScratch = 0;
  dmaAddr = 0n;
  dmaLen = 0;
  dmaStatus = 0;
  readonly buffer = new Uint8Array(BUFFER_SIZE);
  /** The last DMA started (tests await it). */
  lastDma: Promise<MemTxResult> | undefined;
  readonly resets: string[] = [];
  readonly #ramBacking: Uint8Array | undefined;
  ram: MemoryRegion | undefined;

  readonly #ramLost: Int32Array | undefined;

  constructor(init: PciDeviceInit, ramBacking: Uint8Array | undefined, ramLost?: Int32Array) {
    super(init, { vendorId: 0x1af4, deviceId: 0x10f0, classCode: 0xff0000, revision: 2, interruptPin: 1 });
    this.#ramBacking = ramBacking;
    this.#ramLost = ramLost;
  }

  protected override realizePci(): void {
    const mmio = MemoryRegion.io('test-mmio', 0x1000n, {
      valid: { minAccessSize: 1, maxAccessSize: 4 },
      impl: { minAccessSize: 4, maxAccessSize: 4 },
      read: (off) => this.#read(off),
      write: (off, value) => this.#write(off, value),
    });
    this.registerBar(0, { kind: 'mem32', region: mmio });
    const io = MemoryRegion.io('test-io', 0x20n, {
      valid: { minAccessSize: 1, maxAccessSize: 4 },
      read: (off) => (off === 0 ? this.ioScratch : 0xffffffff),
      write: (off, value) => {
        if (off === 0) this.ioScratch = value;
      },
    });
    this.registerBar(1, { kind: 'io', region: io });
    this.ram = MemoryRegion.ram('test-ram', 0x2000n, {
      ...(this.#ramBacking ? { backing: this.#ramBacking } : {}),
      ...(this.#ramLost ? { backingLost: this.#ramLost } : {}),
    });
    this.registerBar(2, { kind: 'mem64', region: this.ram });
    this.msixInitExclusiveBar(4, 4);
    this.msiInit({ vectors: 2, address64: true, perVectorMask: true });
    const rom = new Uint8Array(ROM_SIZE);
    rom.set([0x55, 0xaa, 0x04]);
    this.registerRom(MemoryRegion.rom('test-rom', BigInt(ROM_SIZE), { backing: rom }));
  }

  protected override resetPci(kind: 'cold' | 'warm'): void {
    this.resets.push(kind);
    this.scratch = 0;
    this.ioScratch = 0;
    this.dmaStatus = 0;
    this.buffer.fill(0);
  }

  #read(off: number): number {
    if (off >= REG.BUFFER && off < REG.BUFFER + BUFFER_SIZE) {
      const b = this.buffer;
      const i = off - REG.BUFFER;
      return ((b[i] ?? 0) | ((b[i + 1] ?? 0) << 8) | ((b[i + 2] ?? 0) << 16) | ((b[i + 3] ?? 0) << 24)) >>> 0;
    }
    switch (off) {
      case REG.ID:
        return DEVICE_ID_VALUE;
      case REG.SCRATCH:
        return this.scratch;
      case REG.DMA_ADDR_LO:
        return Number(this.dmaAddr & 0xffffffffn);
      case REG.DMA_ADDR_HI:
        return Number(this.dmaAddr >> 32n);
      case REG.DMA_LEN:
        return this.dmaLen;
      case REG.DMA_STATUS:
        return this.dmaStatus;
      default:
        return 0xffffffff;
    }
  }

  #write(off: number, value: number): void {
    if (off >= REG.BUFFER && off < REG.BUFFER + BUFFER_SIZE) {
      const i = off - REG.BUFFER;
      for (let k = 0; k < 4 && i + k < BUFFER_SIZE; k++) this.buffer[i + k] = (value >>> (8 * k)) & 0xff;
      return;
    }
    switch (off) {
      case REG.SCRATCH:
        this.scratch = value;
        return;
      case REG.IRQ_RAISE:
        this.raise(value);
        return;
      case REG.IRQ_LOWER:
        this.intxDeassert();
        return;
      case REG.DMA_ADDR_LO:
        this.dmaAddr = (this.dmaAddr & ~0xffffffffn) | BigInt(value);
        return;
      case REG.DMA_ADDR_HI:
        this.dmaAddr = (this.dmaAddr & 0xffffffffn) | (BigInt(value) << 32n);
        return;
      case REG.DMA_LEN:
        this.dmaLen = Math.min(value, BUFFER_SIZE);
        return;
      case REG.DMA_CMD:
        if (value === 1 || value === 2) this.#startDma(value === 2);
        return;
    }
  }

  /** Raises interrupt `v` the way the guest configured the device. */
  raise(v: number): void {
    if (this.msix?.enabled) this.msixNotify(v);
    else if (this.msi?.enabled) this.msiNotify(v);
    else this.intxAssert();
  }

  #startDma(toClient: boolean): void {
    this.dmaStatus = 1;
    const view = this.buffer.subarray(0, this.dmaLen);
    const p = toClient ? this.dmaWrite(this.dmaAddr, view) : this.dmaRead(this.dmaAddr, view);
    this.lastDma = p.then(
      (r) => {
        this.dmaStatus = r === 'ok' ? 2 : 3;
        return r;
      },
      () => {
        this.dmaStatus = 3;
        return 'access-error' as MemTxResult;
      },
    );
  }
}

/** The device class; `ramBacking` (e.g. a memfd mapping) backs BAR2 when given. */
export function testDeviceClass(
  name = 'vfu-test',
  ramBacking?: Uint8Array,
  ramLost?: Int32Array,
): DeviceClass {
  return definePciDeviceClass({
    name,
    description: 'server test device',
    create: (init) => new TestDevice(init, ramBacking, ramLost),
  }) as unknown as DeviceClass;
}

/** A DeviceTree whose registry knows the test device. */
export function testTree(ramBacking?: Uint8Array, ramLost?: Int32Array): DeviceTree {
  const registry = new DeviceTypeRegistry();
  registry.register(testDeviceClass('vfu-test', ramBacking, ramLost));
  return new DeviceTree({ registry });
}
