// Two endpoints in one process, on two root buses of one DeviceTree, each with its own client over
// a real socket: same BAR addresses, same IOVA, and nothing crosses over.
import { regs } from '@vfu/pci';
import { Command } from '@vfu/protocol';
import { createMemfd, MappedRegion } from '@vfu/sys';
import { makeTempDir } from '@vfu/test-utils';
import { connect } from '@vfu/transport';
import { expect, onTestFinished, test } from 'vitest';
import { VfioUserServer } from '../src/index';
import { TestClient } from './support/client';
import { REG, type TestDevice, testTree } from './support/device';

test('two endpoints with the same BAR addresses and the same IOVA never see each other', async () => {
  const dir = makeTempDir('vfu-iso-');
  const tree = testTree();
  const endpoints = ['s0', 's1'].map((id) => {
    const server = new VfioUserServer({ id, socketPath: dir.join(`${id}.sock`), tree });
    const device = tree.deviceAdd({ driver: 'vfu-test', id: `dev-${id}`, bus: id }) as TestDevice;
    return { server, device };
  });
  onTestFinished(async () => {
    for (const e of endpoints) await e.server.close();
    dir.remove();
  });
  const clients: TestClient[] = [];
  const memories: { bytes: Uint8Array; unmap(): void; close(): void }[] = [];
  for (const [i, { server }] of endpoints.entries()) {
    await server.start();
    const client = new TestClient(await connect(server.socketPath));
    onTestFinished(() => client.close());
    await client.negotiate();
    // Both program the IO BAR to the same port and the memory BAR to the same address.
    await client.configWrite(regs.PCI_BASE_ADDRESS_0, 0xfe000000, 4);
    await client.configWrite(regs.PCI_BASE_ADDRESS_0 + 4, 0xc000, 4);
    await client.configWrite(
      regs.PCI_COMMAND,
      regs.PCI_COMMAND_MEMORY | regs.PCI_COMMAND_IO | regs.PCI_COMMAND_MASTER,
      2,
    );
    // And map different memory at the same IOVA.
    const fd = createMemfd(`guest-${i}`, { size: 0x1000 });
    const view = MappedRegion.map(fd);
    view.bytes().fill(0x10 + i);
    await client.call(
      Command.DmaMap,
      { argsz: 32, flags: 3, offset: 0n, addr: 0x80000n, size: 0x1000n },
      { fds: [fd] },
    );
    memories.push({ bytes: view.bytes(), unmap: () => view.unmap(), close: () => fd.close() });
    clients.push(client);
  }
  onTestFinished(() => {
    for (const m of memories) {
      m.unmap();
      m.close();
    }
  });
  const [c0, c1] = clients as [TestClient, TestClient];
  const [e0, e1] = endpoints as [(typeof endpoints)[0], (typeof endpoints)[0]];

  // Each client's accesses reach only its own device.
  await c0.barWrite32(0, REG.SCRATCH, 0xaaaa0000);
  await c1.barWrite32(0, REG.SCRATCH, 0xbbbb1111);
  await c0.regionWrite(1, 0n, Uint8Array.of(0x0a));
  await c1.regionWrite(1, 0n, Uint8Array.of(0x1b));
  expect([e0.device.scratch, e1.device.scratch]).toEqual([0xaaaa0000, 0xbbbb1111]);
  expect([e0.device.ioScratch, e1.device.ioScratch]).toEqual([0x0a, 0x1b]);
  // The bus spaces show each device at the programmed addresses, privately.
  expect(e0.server.bus.memoryAddressSpace.readU32(0xfe000000n + BigInt(REG.SCRATCH))).toBe(0xaaaa0000);
  expect(e1.server.bus.memoryAddressSpace.readU32(0xfe000000n + BigInt(REG.SCRATCH))).toBe(0xbbbb1111);
  expect(e0.server.bus.ioAddressSpace.readU8(0xc000n)).toBe(0x0a);
  expect(e1.server.bus.ioAddressSpace.readU8(0xc000n)).toBe(0x1b);

  // Each device's DMA at the same IOVA reaches its own client's memory.
  for (const e of endpoints) {
    const buf = new Uint8Array(4);
    expect(await e.device.dmaRead(0x80010n, buf)).toBe('ok');
    e.device.buffer.set(buf);
  }
  expect([e0.device.buffer[0], e1.device.buffer[0]]).toEqual([0x10, 0x11]);
  expect(await e0.device.dmaWrite(0x80020n, Uint8Array.of(0xe0))).toBe('ok');
  expect(await e1.device.dmaWrite(0x80020n, Uint8Array.of(0xe1))).toBe('ok');
  expect([memories[0]!.bytes[0x20], memories[1]!.bytes[0x20]]).toEqual([0xe0, 0xe1]);

  // Interrupts of one device never reach the other endpoint.
  e0.device.raise(0);
  expect(e0.server.irqState(0).pending).toEqual([true]);
  expect(e1.server.irqState(0).pending).toEqual([false]);
});
