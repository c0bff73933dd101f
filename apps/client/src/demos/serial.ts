import { PciDeviceHandle, VfioPciRegion } from '@vfu/client';
import { ClientAppError } from '../errors';
import { type DemoContext, expectDevice, pollUntil, say } from './context';

/** 16550A registers (offsets in the IO BAR). */
export const Uart = {
  Rbr: 0, // receive buffer (read), THR (write); DLL with DLAB
  Ier: 1, // DLM with DLAB
  Iir: 2, // FCR on write
  Lcr: 3,
  Mcr: 4,
  Lsr: 5,
  Msr: 6,
  Scr: 7,
} as const;

const LCR_DLAB = 0x80;
const LCR_8N1 = 0x03;
const FCR_ENABLE_CLEAR = 0x07;
const MCR_DTR_RTS_OUT2 = 0x0b;
const MCR_LOOP = 0x10;
const LSR_DR = 0x01;
const LSR_THRE = 0x20;

async function setup(ctx: DemoContext, loopback: boolean): Promise<number> {
  const { client } = ctx;
  const pci = new PciDeviceHandle(ctx.client);
  const header = await pci.header();
  expectDevice(
    header.baseClass === 0x07 && header.subclass === 0x00,
    `not a serial controller (class ${header.classCode.toString(16)})`,
  );
  await pci.assignBars();
  await pci.enable();
  const bar = VfioPciRegion.Bar0;
  // 115200 8N1 (divisor 1), FIFOs on, modem lines up.
  await client.write8(bar, Uart.Lcr, LCR_DLAB);
  await client.write8(bar, Uart.Rbr, 1);
  await client.write8(bar, Uart.Ier, 0);
  await client.write8(bar, Uart.Lcr, LCR_8N1);
  await client.write8(bar, Uart.Iir, FCR_ENABLE_CLEAR);
  await client.write8(bar, Uart.Mcr, MCR_DTR_RTS_OUT2 | (loopback ? MCR_LOOP : 0));
  await client.write8(bar, Uart.Scr, 0x5a);
  expectDevice((await client.read8(bar, Uart.Scr)) === 0x5a, 'scratch register does not hold its value');
  return bar;
}

async function send(ctx: DemoContext, bar: number, byte: number): Promise<void> {
  await pollUntil(async () => ((await ctx.client.read8(bar, Uart.Lsr)) & LSR_THRE) !== 0, 'the transmitter');
  await ctx.client.write8(bar, Uart.Rbr, byte);
}

/** 16550A: loops a script through the UART in loopback mode, or relays stdin/stdout with --interactive. */
export async function serialDemo(ctx: DemoContext): Promise<void> {
  if (ctx.interactive) {
    await interactive(ctx);
    return;
  }
  const text = ctx.script ?? 'hello, vfio-user';
  const bar = await setup(ctx, true);
  const sent = new TextEncoder().encode(text);
  const received: number[] = [];
  for (const byte of sent) {
    await send(ctx, bar, byte);
    await pollUntil(
      async () => ((await ctx.client.read8(bar, Uart.Lsr)) & LSR_DR) !== 0,
      'the looped-back byte',
    );
    received.push(await ctx.client.read8(bar, Uart.Rbr));
  }
  const back = new TextDecoder().decode(Uint8Array.from(received));
  expectDevice(back === text, `loopback returned ${JSON.stringify(back)}`);
  say(ctx, `loopback: sent ${JSON.stringify(text)} (${sent.length} bytes), received ${JSON.stringify(back)}`);
}

async function interactive(ctx: DemoContext): Promise<void> {
  if (ctx.io.stdin === undefined)
    throw new ClientAppError('usage', 'serial --interactive needs standard input');
  const bar = await setup(ctx, false);
  let done = false;
  // The receiver is polled; nothing on vfio-user signals a received byte without an interrupt.
  const reader = (async () => {
    while (!done) {
      const lsr = await ctx.client.read8(bar, Uart.Lsr);
      if ((lsr & LSR_DR) !== 0) {
        ctx.io.stdout.write(String.fromCharCode(await ctx.client.read8(bar, Uart.Rbr)));
      } else {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  })();
  for await (const chunk of ctx.io.stdin) {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
    for (const byte of bytes) await send(ctx, bar, byte);
  }
  // Let the far end answer the last line before leaving.
  await new Promise((r) => setTimeout(r, 200));
  done = true;
  await reader;
}
