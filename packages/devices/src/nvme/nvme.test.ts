import { MemoryRegion } from '@vfu/memory';
import { DeviceTree, DeviceTypeRegistry, type InterruptSink, type PciDevice, PciRootBus } from '@vfu/pci';
import { describe, expect, it } from 'vitest';
import { RecordingLog } from '../../test/helpers';
import { GuestMemory, MemoryBackend, NvmeHost } from '../../test/nvme-harness';
import { registerDeviceTypes } from '../api/define-device';
import { NvmeIoOpcode, NvmeReg } from './constants';
import { nvme } from './nvme';

function setup(mode: 'mmap' | 'message', props: Record<string, string> = {}) {
  const registry = new DeviceTypeRegistry();
  const log = new RecordingLog();
  const backend = new MemoryBackend(4 << 20);
  const users = new Map<string, string>();
  registerDeviceTypes(registry, [nvme], {
    log,
    resolveBlockdev: (name, user) => {
      if (name !== 'd0') return undefined;
      users.set(name, user);
      return backend;
    },
    releaseBlockdev: (name) => users.delete(name),
  });
  const tree = new DeviceTree({ registry });
  const msix: number[] = [];
  const sink: InterruptSink = { intx() {}, msi() {}, msix: (_d, vector) => msix.push(vector) };
  const bus = new PciRootBus({ id: 's0', interruptSink: sink, hotplugHandler: {} });
  tree.addRootBus(bus);
  const memory = new GuestMemory(0x8000_0000n, 8 << 20);
  const size = BigInt(memory.bytes.length);
  const region =
    mode === 'mmap'
      ? MemoryRegion.ram('guest', size, { backing: memory.bytes })
      : MemoryRegion.asyncIo('guest', size, {
          read: async (offset, dest) => {
            await new Promise((r) => setImmediate(r));
            dest.set(memory.bytes.subarray(Number(offset), Number(offset) + dest.length));
          },
          write: async (offset, data) => {
            await new Promise((r) => setImmediate(r));
            memory.bytes.set(data, Number(offset));
          },
        });
  bus.dmaRoot.addSubregion(memory.base, region);
  const dev = tree.deviceAdd({
    driver: 'nvme',
    id: 'n0',
    bus: 's0',
    drive: 'd0',
    serial: 'deadbeef',
    ...props,
  });
  if (!nvme.is(dev)) throw new Error('not an nvme device');
  const bar = dev.bar(0)!;
  const host = new NvmeHost(memory, {
    read32: (offset) => {
      const b = new Uint8Array(4);
      bar.read(BigInt(offset), b);
      return new DataView(b.buffer).getUint32(0, true);
    },
    write32: (offset, value) => {
      bar.write(BigInt(offset), new Uint8Array(new Uint32Array([value >>> 0]).buffer));
    },
    write64: (offset, value) => {
      bar.write(BigInt(offset), new Uint8Array(new BigUint64Array([value]).buffer));
    },
  });
  return { dev, host, backend, log, msix, tree, registry, users };
}

function enableFunction(dev: PciDevice): void {
  dev.configWrite(0x04, 0x6, 2); // memory space + bus master
  const cap = dev.msix!.offset;
  dev.configWrite(cap + 2, 0x8000, 2); // MSI-X enable
  // Unmask the first table entries (vector control is masked at reset).
  for (let v = 0; v < 4; v++) {
    dev.bar(0)!.write(BigInt(0x2000 + v * 16 + 12), new Uint8Array(4));
  }
}

describe('-device nvme on a PCI bus', () => {
  it("has QEMU's identity, capability chain and BAR0 layout", () => {
    const { dev } = setup('mmap');
    const c = dev.config;
    expect([c.getWord(0), c.getWord(2), c.getByte(8)]).toEqual([0x1b36, 0x0010, 2]);
    expect(c.getLong(8) >>> 8).toBe(0x010802);
    expect([c.getWord(0x2c), c.getWord(0x2e)]).toEqual([0x1af4, 0x1100]);
    expect(c.getByte(0x3d)).toBe(1);
    const chain: [number, number][] = [];
    for (let at = c.getByte(0x34); at !== 0; at = c.getByte(at + 1)) chain.push([at, c.getByte(at)]);
    expect(chain).toEqual([
      [0x40, 0x11],
      [0x80, 0x10],
      [0x60, 0x01],
    ]);
    expect(c.getWord(0x42) & 0x7ff).toBe(64); // 65 vectors
    expect(c.getLong(0x44)).toBe(0x2000);
    expect(c.getLong(0x48)).toBe(0x3000);
    expect(dev.regions().find((r) => r.index === 0)).toMatchObject({ kind: 'mem64', size: 0x4000n });
    expect(c.getLong(0x10) & 0x7).toBe(0x4);
  });

  it('refuses a missing serial, an unknown drive and a bad block size or MSI-X size', () => {
    const { tree } = setup('mmap');
    expect(() => tree.deviceAdd({ driver: 'nvme', id: 'x1', bus: 's0', drive: 'd0' })).toThrow(/serial/);
    expect(() => tree.deviceAdd({ driver: 'nvme', id: 'x2', bus: 's0', drive: 'nope', serial: 's' })).toThrow(
      /nope/,
    );
    expect(() =>
      tree.deviceAdd({
        driver: 'nvme',
        id: 'x3',
        bus: 's0',
        drive: 'd0',
        serial: 's',
        logical_block_size: '1024',
      }),
    ).toThrow(/512 or 4096/);
    expect(() =>
      tree.deviceAdd({ driver: 'nvme', id: 'x4', bus: 's0', serial: 's', msix_qsize: '512' }),
    ).toThrow();
  });

  it.each(['mmap', 'message'] as const)(
    'does I/O through the bus-master address space (%s DMA)',
    async (mode) => {
      const { dev, host, backend, msix } = setup(mode);
      enableFunction(dev);
      expect(host.mmio.read32(NvmeReg.VS)).toBe(0x00010400);
      host.enable();
      expect(host.reg32(NvmeReg.CSTS) & 1).toBe(1);
      await host.createIoQueuePair(1, 32, 1);
      const buf = host.memory.alloc(8192);
      const data = host.memory.view(buf, 8192);
      for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
      const pages = { prp1: buf, prp2: buf + 4096n };
      expect(
        (await host.run(1, { opcode: NvmeIoOpcode.WRITE, nsid: 1, ...pages, cdw10: 64, cdw12: 15 })).status,
      ).toBe(0);
      expect(Buffer.compare(backend.data.subarray(64 * 512, 64 * 512 + 8192), data)).toBe(0);
      data.fill(0);
      expect(
        (await host.run(1, { opcode: NvmeIoOpcode.READ, nsid: 1, ...pages, cdw10: 64, cdw12: 15 })).status,
      ).toBe(0);
      expect(data[13]).toBe(169);
      expect(msix).toContain(1);
      expect(msix).toContain(0);
    },
  );

  it('DMA stops when bus mastering is off: the queues cannot be read and CSTS.CFS is set', async () => {
    const { dev, host } = setup('message');
    enableFunction(dev);
    host.enable();
    dev.configWrite(0x04, 0x2, 2); // bus master off
    host.place(0, { opcode: 0x06, cdw10: 1 });
    host.ring(0);
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    expect(host.reg32(NvmeReg.CSTS) & 2).toBe(2);
  });

  it('holds its drive while realized and releases it after device_del', async () => {
    const { users, tree } = setup('mmap');
    expect(users.get('d0')).toBe('n0');
    tree.deviceDel('n0');
    await new Promise((r) => setImmediate(r));
    expect(users.has('d0')).toBe(false);
  });

  it('a function reset returns the controller to its reset state', async () => {
    const { dev, host } = setup('mmap');
    enableFunction(dev);
    host.enable();
    dev.reset('warm');
    await dev.core.controller.drain();
    enableFunction(dev);
    expect(host.reg32(NvmeReg.CC)).toBe(0);
    expect(host.reg32(NvmeReg.CSTS)).toBe(0);
  });
});
