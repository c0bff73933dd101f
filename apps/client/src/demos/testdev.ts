import { PciDeviceHandle, VfioPciRegion } from '@vfu/client';
import { type DemoContext, expectDevice, hex, say } from './context';

/** The pci-testdev test header at the start of each BAR (QEMU docs/specs/pci-testdev.txt). */
export const TestdevHeader = {
  Test: 0x00,
  Width: 0x01,
  Offset: 0x04,
  Data: 0x08,
  Count: 0x0c,
  Name: 0x10,
} as const;
const TESTS_PER_BAR = 3;
const WRITES = 3;

/** pci-testdev: select every test on the MMIO and IO BAR, write its pattern, read its counter. */
export async function testdevDemo(ctx: DemoContext): Promise<void> {
  const { client } = ctx;
  const pci = new PciDeviceHandle(client);
  const header = await pci.header();
  expectDevice(
    header.vendorId === 0x1b36 && header.deviceId === 0x0005,
    `not a pci-testdev (${hex(header.vendorId, 4)}:${hex(header.deviceId, 4)})`,
  );
  await pci.assignBars();
  await pci.enable();
  for (const bar of [VfioPciRegion.Bar0, VfioPciRegion.Bar1]) {
    for (let test = 0; test < TESTS_PER_BAR; test++) {
      await client.write8(bar, TestdevHeader.Test, test);
      const index = await client.read8(bar, TestdevHeader.Test);
      const width = await client.read8(bar, TestdevHeader.Width);
      const offset = await client.read32(bar, TestdevHeader.Offset);
      const data = await client.read32(bar, TestdevHeader.Data);
      const nameBytes = await client.regionRead(bar, TestdevHeader.Name, 32);
      const end = nameBytes.indexOf(0);
      const name = new TextDecoder().decode(nameBytes.subarray(0, end < 0 ? nameBytes.length : end));
      expectDevice(width >= 1 && width <= 4, `${name}: width ${width}`);
      const value = new Uint8Array(width);
      new DataView(value.buffer).setUint8(0, data & 0xff);
      for (let i = 0; i < WRITES; i++) await client.regionWrite(bar, offset, value);
      const count = await client.read32(bar, TestdevHeader.Count);
      // Writes an ioeventfd consumes are not counted (QEMU does the same), so only the plain test must count them all.
      if (name.endsWith('no-eventfd'))
        expectDevice(count === WRITES, `${name}: count ${count} after ${WRITES} writes`);
      say(
        ctx,
        `BAR${bar} test ${index} ${name}: ${width}-byte writes of ${hex(data, 2)} at ${hex(offset)} -> count ${count}`,
      );
    }
  }
  await client.write8(VfioPciRegion.Bar0, TestdevHeader.Test, 0xff); // deselect
}
