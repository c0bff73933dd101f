/**
 * `-device nvme`: QEMU's NVMe controller on PCI (1b36:0010 rev 2, class 010802, subsystem
 * 1af4:1100) with the capabilities and BAR0 layout a Linux guest sees on QEMU: MSI-X at 0x40
 * (table and PBA in BAR0), PCIe at 0x80, PM at 0x60; BAR0 64-bit memory, at least 16 KiB.
 * Properties keep QEMU's names: `drive`, `serial`, `max_ioqpairs`, `msix_qsize`, `mdts`,
 * `logical_block_size`.
 */

import { MemoryRegion } from '@vfu/memory';
import { prop } from '@vfu/pci';
import type { DeviceContext, DeviceInterrupts } from '../api/context';
import { defineDevice } from '../api/define-device';
import { DeviceError } from '../errors';
import {
  NVME_DEFAULT_MAX_IOQPAIRS,
  NVME_DEFAULT_MDTS,
  NVME_DEFAULT_MSIX_QSIZE,
  NVME_MAX_MSIX_QSIZE,
  NVME_PCI_IDS,
} from './constants';
import { NvmeController, nvmeBarLayout } from './controller';
import type { NvmeInterrupts } from './types';

/** Properties of `-device nvme`. */
export const nvmeProperties = {
  drive: prop.string({ default: '', description: 'block node (-blockdev node-name) of namespace 1' }),
  serial: prop.string({ description: 'controller serial number (Identify SN), required' }),
  max_ioqpairs: prop.uint32({
    default: NVME_DEFAULT_MAX_IOQPAIRS,
    min: 1,
    max: 0xffff,
    description: 'I/O queue pairs',
  }),
  msix_qsize: prop.uint32({
    default: NVME_DEFAULT_MSIX_QSIZE,
    min: 1,
    max: NVME_MAX_MSIX_QSIZE,
    description: 'MSI-X vectors (more than 128 breaks Windows resource assignment)',
  }),
  mdts: prop.uint8({
    default: NVME_DEFAULT_MDTS,
    max: 20,
    description: 'maximum data transfer size (power of two of 4 KiB)',
  }),
  logical_block_size: prop.uint32({ default: 512, description: 'logical block size: 512 or 4096' }),
} as const;

/** The PCI layer's interrupt choice as the controller sees it: MSI-X, else MSI, else INTx. */
export function nvmeInterrupts(irq: DeviceInterrupts): NvmeInterrupts {
  return {
    mode: () => (irq.msix.isEnabled() ? 'msix' : irq.msi.isEnabled() ? 'msi' : 'intx'),
    notify: (vector) => {
      if (irq.msix.isEnabled()) irq.msix.notify(vector);
      else irq.msi.notify(vector);
    },
    setIntx: (asserted) => irq.intx.setLevel(asserted),
  };
}

type NvmeContext = DeviceContext<{
  drive: string;
  serial: string;
  max_ioqpairs: number;
  msix_qsize: number;
  mdts: number;
  logical_block_size: number;
}>;

/** The name the block layer records as the drive's user: the device id, as QEMU's qdev id. */
function blockUser(ctx: NvmeContext): string {
  return ctx.id ?? `${ctx.type}@${ctx.pci?.path ?? 'detached'}`;
}

function createController(ctx: NvmeContext): NvmeController {
  const p = ctx.props;
  const fail = (property: string, value: unknown, message: string): never => {
    throw new DeviceError('invalid-property', `nvme: ${message}`, {
      deviceType: 'nvme',
      ...(ctx.id === undefined ? {} : { deviceId: ctx.id }),
      property,
      value,
    });
  };
  if (p.serial === '') fail('serial', p.serial, "property 'serial' must not be empty");
  if (p.logical_block_size !== 512 && p.logical_block_size !== 4096) {
    fail(
      'logical_block_size',
      p.logical_block_size,
      `logical_block_size must be 512 or 4096, got ${p.logical_block_size}`,
    );
  }
  let namespaces: ConstructorParameters<typeof NvmeController>[0]['namespaces'] = [];
  if (p.drive !== '') {
    const backend = ctx.host.resolveBlockdev?.(p.drive, blockUser(ctx));
    if (backend === undefined) fail('drive', p.drive, `drive '${p.drive}' is not a known block node`);
    else namespaces = [{ backend, logicalBlockSize: p.logical_block_size === 4096 ? 4096 : 512 }];
  }
  return new NvmeController({
    dma: ctx.dma,
    interrupts: nvmeInterrupts(ctx.irq),
    namespaces,
    serial: p.serial,
    maxIoQueuePairs: p.max_ioqpairs,
    msixVectors: p.msix_qsize,
    mdts: p.mdts,
    clock: ctx.clock,
    log: ctx.log,
  });
}

/** What `-device nvme` holds: the controller, and the release of its drive. */
export class NvmeFunction {
  constructor(
    /** The controller behind BAR0. */
    readonly controller: NvmeController,
    readonly releaseDrive: () => void,
  ) {}

  /** Resets the controller; the drive is released once the I/O in flight is done. */
  unrealize(): void {
    void this.controller.reset().then(this.releaseDrive);
  }
}

/** `-device nvme`. */
export const nvme = defineDevice({
  name: 'nvme',
  description: 'Non-Volatile Memory Express controller (QEMU 1b36:0010)',
  category: 'Storage devices',
  identity: { ...NVME_PCI_IDS, interruptPin: 1, express: true },
  properties: nvmeProperties,
  create: (ctx) =>
    new NvmeFunction(createController(ctx), () => {
      if (ctx.props.drive !== '') ctx.host.releaseBlockdev?.(ctx.props.drive, blockUser(ctx));
    }),
  bars: ({ controller: core }) => {
    const region = MemoryRegion.io('nvme-bar0', BigInt(core.layout.barSize), {
      read: (offset, size) => (size === 8 ? core.read64(offset) : core.read(offset, size)),
      write: (...access) => {
        if (access[2] === 8) core.write64(access[0], access[1]);
        else core.write(access[0], access[1], access[2]);
      },
      valid: { minAccessSize: 1, maxAccessSize: 8 },
      impl: { minAccessSize: 1, maxAccessSize: 8 },
    });
    return [{ index: 0, kind: 'mem64', region }];
  },
  // Added in reverse so the chain reads as QEMU's: 0x40 MSI-X -> 0x80 PCIe -> 0x60 PM.
  capabilities: (ctx) => {
    const vectors = ctx.props.msix_qsize;
    const layout = nvmeBarLayout(ctx.props.max_ioqpairs, vectors);
    return {
      pm: { offset: 0x60, noSoftReset: true },
      pcie: { offset: 0x80, type: 'rc-integrated-endpoint' },
      msix: {
        vectors,
        tableBar: 0,
        tableOffset: layout.msixTableOffset,
        pbaBar: 0,
        pbaOffset: layout.msixPbaOffset,
        offset: 0x40,
      },
    };
  },
  unrealize: (core) => core.unrealize(),
  reset: (core) => {
    void core.controller.reset();
  },
});
