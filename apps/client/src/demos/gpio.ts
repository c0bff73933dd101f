import { PciDeviceHandle, VfioPciRegion } from '@vfu/client';
import { type DemoContext, expectDevice, hex, say } from './context';

/** PCI-IDIO-16 registers (offsets in its IO BAR2; Linux gpio-idio-16 layout). */
export const Idio16 = {
  Outputs0: 0, // FET outputs 0-7
  Inputs0: 1, // isolated inputs 0-7 (write: clear interrupt)
  IrqEnable: 2, // read: enable IRQ; write: disable IRQ
  Filter: 3,
  Outputs8: 4, // FET outputs 8-15
  Inputs8: 5, // isolated inputs 8-15
  IrqStatus: 6,
} as const;

/** PCI-IDIO-16: walk a bit across the 16 outputs, read the 16 inputs and the IRQ status. */
export async function gpioDemo(ctx: DemoContext): Promise<void> {
  const { client } = ctx;
  const pci = new PciDeviceHandle(client);
  const header = await pci.header();
  expectDevice(
    header.vendorId === 0x494f && header.deviceId === 0x0dc8,
    `not a PCI-IDIO-16 (${hex(header.vendorId, 4)}:${hex(header.deviceId, 4)})`,
  );
  await pci.assignBars();
  await pci.enable();
  const bar = VfioPciRegion.Bar2;
  for (let line = 0; line < 16; line++) {
    const value = 1 << line;
    await client.write8(bar, Idio16.Outputs0, value & 0xff);
    await client.write8(bar, Idio16.Outputs8, value >> 8);
    const back =
      (await client.read8(bar, Idio16.Outputs0)) | ((await client.read8(bar, Idio16.Outputs8)) << 8);
    expectDevice(back === value, `output ${line}: wrote ${hex(value, 4)}, read ${hex(back, 4)}`);
  }
  await client.write8(bar, Idio16.Outputs0, 0);
  await client.write8(bar, Idio16.Outputs8, 0);
  say(ctx, 'outputs: walked a bit across OUT0-OUT15, each read back');
  const inputs = (await client.read8(bar, Idio16.Inputs0)) | ((await client.read8(bar, Idio16.Inputs8)) << 8);
  say(ctx, `inputs: IIN0-IIN15 = ${hex(inputs, 4)} (${inputs.toString(2).padStart(16, '0')})`);
  await client.read8(bar, Idio16.IrqEnable); // a read enables the change interrupt
  const status = await client.read8(bar, Idio16.IrqStatus);
  await client.write8(bar, Idio16.IrqEnable, 0); // a write disables it again
  say(ctx, `interrupt status: ${hex(status, 2)}${(status & 0x4) !== 0 ? ' (pending)' : ''}`);
}
