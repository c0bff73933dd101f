import { PciDeviceHandle, VfioPciRegion } from '@vfu/client';
import { type DemoContext, expectDevice, hex, nextEvent, pollUntil, say } from './context';

/** edu registers in BAR0 (QEMU docs/specs/edu.rst). */
export const EduRegister = {
  Identification: 0x00,
  Liveness: 0x04,
  Factorial: 0x08,
  Status: 0x20,
  InterruptStatus: 0x24,
  InterruptRaise: 0x60,
  InterruptAcknowledge: 0x64,
  DmaSource: 0x80,
  DmaDestination: 0x88,
  DmaCount: 0x90,
  DmaCommand: 0x98,
} as const;

const STATUS_COMPUTING = 0x01;
const DMA_CMD_START = 0x1;
const DMA_CMD_TO_RAM = 0x2;
/** Start of edu's internal DMA buffer in its DMA address map. */
const EDU_DMA_BUFFER = 0x40000n;
/** Where the demo's data sits in guest RAM (guest RAM is mapped at DMA address 0). */
const RAM_SOURCE = 0x1000;
const RAM_DESTINATION = 0x2000;
const DMA_LENGTH = 256;

function factorial32(n: number): number {
  let r = 1;
  for (let i = 2; i <= n; i++) r = Math.imul(r, i) >>> 0;
  return r;
}

/** edu: identification, liveness, factorial, a DMA round trip through guest RAM, an MSI. */
export async function eduDemo(ctx: DemoContext): Promise<void> {
  const { client } = ctx;
  const bar0 = VfioPciRegion.Bar0;
  const pci = new PciDeviceHandle(client);
  const header = await pci.header();
  expectDevice(
    header.vendorId === 0x1234 && header.deviceId === 0x11e8,
    `not an edu device (${hex(header.vendorId, 4)}:${hex(header.deviceId, 4)})`,
  );
  await pci.assignBars();
  await pci.enable();

  const ident = await client.read32(bar0, EduRegister.Identification);
  expectDevice((ident & 0xff) === 0xed, `identification ${hex(ident, 8)} does not end in 0xed`);
  say(ctx, `identification: ${hex(ident, 8)} (edu version ${ident >>> 24}.${(ident >>> 16) & 0xff})`);

  await client.write32(bar0, EduRegister.Liveness, 0x12345678);
  const live = await client.read32(bar0, EduRegister.Liveness);
  expectDevice(live === 0xedcba987, `liveness read ${hex(live, 8)}, expected 0xedcba987`);
  say(ctx, `liveness: wrote 0x12345678, read ${hex(live, 8)}`);

  for (const n of [5, 10, 12]) {
    await client.write32(bar0, EduRegister.Factorial, n);
    await pollUntil(
      async () => ((await client.read32(bar0, EduRegister.Status)) & STATUS_COMPUTING) === 0,
      'factorial',
    );
    const result = await client.read32(bar0, EduRegister.Factorial);
    expectDevice(result === factorial32(n), `factorial(${n}) = ${result}, expected ${factorial32(n)}`);
    say(ctx, `factorial(${n}) = ${result}`);
  }

  const mapping =
    ctx.client.dmaMappings.find((m) => m.memory === ctx.ram) ?? (await client.mapDma(ctx.ram, 0n));
  const base = mapping.iova - BigInt(mapping.memoryOffset);
  const pattern = Uint8Array.from({ length: DMA_LENGTH }, (_, i) => (i * 31 + 7) & 0xff);
  ctx.ram.write(RAM_SOURCE, pattern);
  ctx.ram.fill(RAM_DESTINATION, DMA_LENGTH, 0);
  const transfer = async (src: bigint, dst: bigint, toRam: boolean) => {
    await client.write64(bar0, EduRegister.DmaSource, src);
    await client.write64(bar0, EduRegister.DmaDestination, dst);
    await client.write64(bar0, EduRegister.DmaCount, BigInt(DMA_LENGTH));
    await client.write64(bar0, EduRegister.DmaCommand, BigInt(DMA_CMD_START | (toRam ? DMA_CMD_TO_RAM : 0)));
    await pollUntil(
      async () => ((await client.read32(bar0, EduRegister.DmaCommand)) & DMA_CMD_START) === 0,
      'DMA',
    );
  };
  await transfer(base + BigInt(RAM_SOURCE), EDU_DMA_BUFFER, false);
  await transfer(EDU_DMA_BUFFER, base + BigInt(RAM_DESTINATION), true);
  const back = ctx.ram.read(RAM_DESTINATION, DMA_LENGTH);
  expectDevice(
    back.every((b, i) => b === pattern[i]),
    'DMA round trip: the data came back different',
  );
  say(
    ctx,
    `DMA: ${DMA_LENGTH} bytes guest RAM ${hex(base + BigInt(RAM_SOURCE))} -> edu buffer -> guest RAM ${hex(base + BigInt(RAM_DESTINATION))}: identical (${mapping.viaFd ? 'server mapped the memfd' : 'DMA_READ/DMA_WRITE messages'})`,
  );

  if (!ctx.fds) {
    say(ctx, 'MSI: skipped (interrupts need eventfds, and fd passing is off)');
    return;
  }
  const vectors = await pci.setupMsi(1);
  const msi = nextEvent<number>(client, 'msi', 'MSI');
  await client.write32(bar0, EduRegister.InterruptRaise, 0x1);
  const vector = await msi.promise;
  const status = await client.read32(bar0, EduRegister.InterruptStatus);
  await client.write32(bar0, EduRegister.InterruptAcknowledge, status);
  say(
    ctx,
    `MSI: ${vectors} vector enabled, vector ${vector} fired with interrupt status ${hex(status)}, acknowledged`,
  );
}
