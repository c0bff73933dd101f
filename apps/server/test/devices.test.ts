/**
 * The device zoo end to end: each device served by the built `vfu-server` process and driven by
 * `@vfu/client` from this process, through config space, BARs, guest memory and eventfds, with the
 * effects checked where they land (client memory, the serial backend, the monitor).
 */
import { connect as connectUnix, type Socket } from 'node:net';
import {
  type ClientOptions,
  type InterruptEvent,
  type InterruptKind,
  PciDeviceHandle,
  VfioPciIrq,
  VfioPciRegion,
  VfioUserClient,
} from '@vfu/client';
import { Command } from '@vfu/protocol';
import {
  connectQmp,
  EDU_SPEC,
  EDU_SPEC_BUFFER,
  type QmpTestClient,
  type ServerProcess,
} from '@vfu/test-utils';
import { connect as connectChannel } from '@vfu/transport';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startServer, tempDir } from './support';

const EDU = EDU_SPEC;
const EDU_BUFFER = EDU_SPEC_BUFFER;
const EDU_DMA_START = 1n;
const EDU_DMA_TO_RAM = 2n;
const EDU_DMA_IRQ = 4n;
/** Where the tests map guest RAM for the device (inside edu's default 28-bit dma_mask). */
const IOVA = 0x10_0000n;

/** 16550 registers (I/O BAR0) and the bits the tests use. */
const UART = { rbrThr: 0, ier: 1, iirFcr: 2, lcr: 3, lsr: 5 } as const;
const IER_RDI = 0x01;
const IER_THRI = 0x02;
const IIR_NO_INT = 0x01;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_CTI = 0x0c;
const IIR_FIFO = 0xc0;
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_THRE = 0x20;

/** PCI-IDIO-16 registers (I/O BAR2). */
const IDIO = { out0: 0, in0: 1, irqCtl: 2, out8: 4, in8: 5, irqStatus: 6 } as const;
const IDIO_BAR = 2;

/** Connects a client and closes it when the test ends (before the server is stopped). */
async function client(socketPath: string, options: ClientOptions = {}): Promise<VfioUserClient> {
  const c = await VfioUserClient.connect(socketPath, options);
  onTestFinished(() => c.close());
  return c;
}

async function monitor(path: string): Promise<QmpTestClient> {
  const qmp = await connectQmp(path);
  onTestFinished(() => qmp.close());
  expect(await qmp.execute('qmp_capabilities')).toEqual({ return: {} });
  return qmp;
}

/**
 * Every interrupt the client receives, in order; `next(kind)` takes the oldest one not yet taken
 * (waiting for it), so an interrupt that arrives before the test asks for it is not lost.
 */
class InterruptRecorder {
  readonly #queue: InterruptEvent[] = [];
  readonly #waiters = new Set<() => void>();
  /** Eventfd signals received so far (an event may coalesce several). */
  signals = 0n;

  constructor(c: VfioUserClient) {
    c.on('irq', (event) => {
      this.signals += event.count;
      this.#queue.push(event);
      for (const w of [...this.#waiters]) w();
    });
  }

  /** Events received and not yet taken. */
  get pending(): readonly InterruptEvent[] {
    return this.#queue;
  }

  next(kind: InterruptKind, timeoutMs = 5000): Promise<InterruptEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const event = this.#queue.shift();
        if (event === undefined) return;
        done();
        if (event.kind === kind) resolve(event);
        else reject(new Error(`expected a ${kind} interrupt, got ${event.kind}[${event.vector}]`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${kind} interrupt within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }
}

/** Polls `read` until it satisfies `ok`; returns the last value. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const v = await read();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** n! mod 2^32, computed independently of the device. */
function factorial32(n: number): number {
  let r = 1n;
  for (let k = 2n; k <= BigInt(n); k++) r *= k;
  return Number(r & 0xffff_ffffn);
}

/** Programs an edu DMA transfer and starts it. */
async function eduDma(c: VfioUserClient, src: bigint, dst: bigint, count: number, command: bigint) {
  await c.write64(0, EDU.dmaSrc, src);
  await c.write64(0, EDU.dmaDst, dst);
  await c.write64(0, EDU.dmaCount, BigInt(count));
  await c.write64(0, EDU.dmaCmd, command);
}

/** Waits for the edu DMA command's start bit to clear (the transfer completed). */
function eduDmaDone(c: VfioUserClient): Promise<number> {
  return until(
    () => c.read32(0, EDU.dmaCmd),
    (cmd) => (cmd & 1) === 0,
    'the edu DMA to complete',
  );
}

/** Reads `length` bytes of edu's DMA buffer at `offset` by DMA into client RAM at `ramOffset`. */
async function readEduBuffer(
  c: VfioUserClient,
  ram: { read(offset: number, length: number): Uint8Array },
  offset: number,
  length: number,
  ramOffset: number,
): Promise<Uint8Array> {
  await eduDma(
    c,
    EDU_BUFFER + BigInt(offset),
    IOVA + BigInt(ramOffset),
    length,
    EDU_DMA_START | EDU_DMA_TO_RAM,
  );
  await eduDmaDone(c);
  return ram.read(ramOffset, length);
}

const pattern = (length: number, seed: number) =>
  Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);

/** Waits until the server has logged a line matching `pattern` on stderr. */
async function logged(server: ServerProcess, line: RegExp): Promise<void> {
  await server.waitForOutput(line, 'stderr', 5000);
}

/** Starts `vfu-server -device SPEC,socket=...` for one device; returns the server and the socket. */
async function serveOne(spec: string, extra: readonly string[] = []) {
  const dir = tempDir();
  const socket = dir.join('dev.sock');
  const server = await startServer(['-device', `${spec},socket=${socket}`, ...extra]);
  return { dir, socket, server };
}

describe('edu through vfu-server', () => {
  it('computes factorials with the computing bit and interrupts on completion by MSI', async () => {
    // A factorial taking 1 s keeps the computing bit observable over the socket.
    const { socket, server } = await serveOne('edu,id=edu0,x-factorial-delay-ns=1000000000');
    const c = await client(socket);
    const pci = new PciDeviceHandle(c);
    await pci.assignBars();
    await pci.enable();
    expect(await pci.setupMsi(1)).toBe(1);
    const irqs = new InterruptRecorder(c);

    await c.write32(0, EDU.status, 0xffff_ffff);
    expect(await c.read32(0, EDU.status)).toBe(0x80); // only bit 7 is writable
    await c.write32(0, EDU.factorial, 12);
    expect(await c.read32(0, EDU.status)).toBe(0x81);
    await c.write32(0, EDU.factorial, 5); // ignored while computing
    expect(await irqs.next('msi')).toMatchObject({ kind: 'msi', index: VfioPciIrq.Msi, vector: 0 });
    expect(await c.read32(0, EDU.status)).toBe(0x80);
    expect(await c.read32(0, EDU.factorial)).toBe(479001600);
    expect(await c.read32(0, EDU.irqStatus)).toBe(0x1);
    await c.write32(0, EDU.irqAck, 0x1);
    expect(await c.read32(0, EDU.irqStatus)).toBe(0);
    await logged(server, /guest error: edu .*factorial written while computing/);

    // Without bit 7 the result arrives with no interrupt; the product wraps at 32 bits.
    await c.write32(0, EDU.status, 0);
    await c.write32(0, EDU.factorial, 20);
    await until(
      () => c.read32(0, EDU.status),
      (s) => (s & 1) === 0,
      'factorial',
    );
    expect(await c.read32(0, EDU.factorial)).toBe(factorial32(20));
    expect(await c.read32(0, EDU.irqStatus)).toBe(0);
    expect(irqs.signals).toBe(1n);

    // Masked at the vfio level, the MSI waits and is delivered once on unmask.
    await c.maskIrq(VfioPciIrq.Msi, 0, 1);
    await c.write32(0, EDU.irqRaise, 0x2);
    expect(await c.read32(0, EDU.irqStatus)).toBe(0x2);
    expect(irqs.pending).toEqual([]);
    await c.unmaskIrq(VfioPciIrq.Msi, 0, 1);
    await irqs.next('msi');
    expect(irqs.signals).toBe(2n);
  });

  it('delivers INTx by eventfd as a level: automasked, re-sent on unmask while still asserted', async () => {
    const { socket } = await serveOne('edu,id=edu0');
    const c = await client(socket);
    const pci = new PciDeviceHandle(c);
    await pci.enable();
    await pci.setupIntx();
    const irqs = new InterruptRecorder(c);

    await c.write32(0, EDU.status, 0x80);
    await c.write32(0, EDU.factorial, 6);
    expect(await irqs.next('intx')).toMatchObject({ index: VfioPciIrq.Intx, vector: 0 });
    expect(await c.read32(0, EDU.factorial)).toBe(720);
    expect(await c.read32(0, EDU.irqStatus)).toBe(0x1);
    // Unmasked without acknowledging: the line is still up, so it comes again.
    await c.unmaskIrq(VfioPciIrq.Intx);
    await irqs.next('intx');
    // Acknowledged, then unmasked: the line is down, nothing is sent until the next raise.
    await c.write32(0, EDU.irqAck, 0x1);
    await c.unmaskIrq(VfioPciIrq.Intx);
    await c.write32(0, EDU.irqRaise, 0x10);
    await irqs.next('intx');
    expect(await c.read32(0, EDU.irqStatus)).toBe(0x10);
    expect(irqs.signals).toBe(3n);
    expect(irqs.pending).toEqual([]);
  });

  for (const viaMessages of [false, true]) {
    const mode = viaMessages ? 'message-based DMA (DMA_READ/DMA_WRITE, no fd)' : 'memfd DMA_MAP';
    it(`moves data to and from client memory with ${mode}, and honours bus mastering`, async () => {
      const { socket, server } = await serveOne('edu,id=edu0,x-dma-delay-ns=1000000', ['--trace']);
      const c = await client(socket);
      const pci = new PciDeviceHandle(c);
      await pci.assignBars();
      await pci.enable();
      await pci.setupMsi(1);
      const irqs = new InterruptRecorder(c);
      const ram = c.allocateMemory(0x10000);
      const mapping = await c.mapDma(ram, IOVA, { viaMessages });
      expect(mapping.viaFd).toBe(!viaMessages);

      // RAM -> the whole 4 KiB buffer, interrupt 0x100 on completion.
      const data = pattern(4096, 7);
      ram.write(0x1000, data);
      await eduDma(c, IOVA + 0x1000n, EDU_BUFFER, 4096, EDU_DMA_START | EDU_DMA_IRQ);
      await irqs.next('msi');
      expect(await c.read32(0, EDU.dmaCmd)).toBe(Number(EDU_DMA_IRQ));
      expect(await c.read32(0, EDU.irqStatus)).toBe(0x100);
      await c.write32(0, EDU.irqAck, 0x100);

      // Buffer +0x100 -> RAM 0x8000: exactly those bytes land, the neighbours stay untouched.
      await eduDma(
        c,
        EDU_BUFFER + 0x100n,
        IOVA + 0x8000n,
        0x200,
        EDU_DMA_START | EDU_DMA_TO_RAM | EDU_DMA_IRQ,
      );
      await irqs.next('msi');
      expect(ram.read(0x8000, 0x200)).toEqual(data.subarray(0x100, 0x300));
      expect(ram.read(0x7ff0, 0x10)).toEqual(new Uint8Array(0x10));
      expect(ram.read(0x8200, 0x10)).toEqual(new Uint8Array(0x10));
      await c.write32(0, EDU.irqAck, 0x100);

      // Bus mastering off: a write to RAM is dropped, a read from RAM fills the buffer with zeros.
      ram.fill(0x9000, 0x100, 0xee);
      await pci.enable({ busMaster: false });
      await eduDma(c, EDU_BUFFER, IOVA + 0x9000n, 0x100, EDU_DMA_START | EDU_DMA_TO_RAM);
      await eduDmaDone(c);
      expect(ram.read(0x9000, 0x100)).toEqual(new Uint8Array(0x100).fill(0xee));
      // Its completion interrupt is latched, but the MSI message (a bus-master write) is dropped.
      await eduDma(c, IOVA + 0x1000n, EDU_BUFFER, 0x80, EDU_DMA_START | EDU_DMA_IRQ);
      await eduDmaDone(c);
      expect(await c.read32(0, EDU.irqStatus)).toBe(0x100);
      await c.write32(0, EDU.irqAck, 0x100);
      await pci.enable({ busMaster: true });
      // The device is still alive and its buffer shows the zero fill, and only there.
      expect(await c.read32(0, EDU.ident)).toBe(0x010000ed);
      expect(await readEduBuffer(c, ram, 0, 0x100, 0x9000)).toEqual(
        Uint8Array.from({ length: 0x100 }, (_, i) => (i < 0x80 ? 0 : (data[i] as number))),
      );
      await logged(server, /guest error: edu .*DMA write to 0x109000 \(\+0x100\) failed: decode-error/);
      await logged(server, /guest error: edu .*DMA read from 0x101000 \(\+0x80\) failed: decode-error/);
      expect(irqs.pending).toEqual([]);
      await c.write32(0, EDU.irqRaise, 0x8);
      await irqs.next('msi');
      expect(irqs.signals).toBe(3n);

      await c.unmapDma(mapping);
      await logged(server, /trace: s0 rx DMA_UNMAP request/);

      // Transfers crossed the socket as DMA messages only without an fd, and never with bus
      // mastering off.
      const dmaMessages = [
        ...server
          .stderr()
          .matchAll(/trace: s0 tx (DMA_READ|DMA_WRITE) request \S+ address=(\S+) count=(\d+)/g),
      ].map((m) => m.slice(1).join(' '));
      expect(dmaMessages).toEqual(
        viaMessages ? ['DMA_READ 0x101000 4096', 'DMA_WRITE 0x108000 512', 'DMA_WRITE 0x109000 256'] : [],
      );
    });
  }

  for (const viaMessages of [false, true]) {
    const mode = viaMessages ? 'by message' : 'by fd';
    it(`keeps to the client's DMA terms ${mode}: read-only mappings, adjacent mappings, transfer size`, async () => {
      const { socket, server } = await serveOne('edu,id=edu0,x-dma-delay-ns=1000000', ['--trace']);
      const c = await client(socket, { maxDataXferSize: 1024 });
      const pci = new PciDeviceHandle(c);
      await pci.assignBars();
      await pci.enable();
      const low = c.allocateMemory(0x2000);
      const high = c.allocateMemory(0x1000);
      const readOnly = c.allocateMemory(0x1000);
      await c.mapDma(low, IOVA, { viaMessages });
      await c.mapDma(high, IOVA + 0x2000n, { viaMessages });
      await c.mapDma(readOnly, 0x20_0000n, { viaMessages, readOnly: true });

      // One transfer across two mappings, both ways.
      const data = pattern(0x1000, 5);
      low.write(0x1800, data.subarray(0, 0x800));
      high.write(0, data.subarray(0x800));
      await eduDma(c, IOVA + 0x1800n, EDU_BUFFER, 0x1000, EDU_DMA_START);
      await eduDmaDone(c);
      await eduDma(c, EDU_BUFFER, IOVA + 0x1c00n, 0x800, EDU_DMA_START | EDU_DMA_TO_RAM);
      await eduDmaDone(c);
      expect(low.read(0x1c00, 0x400)).toEqual(data.subarray(0, 0x400));
      expect(high.read(0, 0x400)).toEqual(data.subarray(0x400, 0x800));
      expect(high.read(0x400, 0x400)).toEqual(data.subarray(0xc00, 0x1000)); // untouched

      // The device may read a read-only mapping but not write it.
      readOnly.write(0, Uint8Array.of(1, 2, 3, 4));
      await eduDma(c, 0x20_0000n, EDU_BUFFER + 0x10n, 4, EDU_DMA_START);
      await eduDmaDone(c);
      await eduDma(c, EDU_BUFFER, 0x20_0000n, 0x20, EDU_DMA_START | EDU_DMA_TO_RAM);
      await eduDmaDone(c);
      expect(readOnly.read(0, 0x20)).toEqual(Uint8Array.of(1, 2, 3, 4, ...new Uint8Array(0x1c)));
      await logged(server, /guest error: edu .*DMA write to 0x200000 \(\+0x20\) failed: access-error/);
      expect(await readEduBuffer(c, low, 0x10, 4, 0)).toEqual(Uint8Array.of(1, 2, 3, 4));

      await c.unmapAllDma();
      await logged(server, /trace: s0 rx DMA_UNMAP request/);
      const dmaMessages = [
        ...server
          .stderr()
          .matchAll(/trace: s0 tx (DMA_READ|DMA_WRITE) request \S+ address=(\S+) count=(\d+)/g),
      ].map((m) => m.slice(1).join(' '));
      // By message, every piece fits the client's 1 KiB limit; the write to the read-only mapping
      // is refused by the server without asking the client.
      expect(dmaMessages).toEqual(
        viaMessages
          ? [
              'DMA_READ 0x101800 1024',
              'DMA_READ 0x101c00 1024',
              'DMA_READ 0x102000 1024',
              'DMA_READ 0x102400 1024',
              'DMA_WRITE 0x101c00 1024',
              'DMA_WRITE 0x102000 1024',
              'DMA_READ 0x200000 4',
              'DMA_WRITE 0x100000 4',
            ]
          : [],
      );
    });
  }

  it('skips and logs an out-of-range DMA, survives unmapped bus addresses, and keeps serving', async () => {
    const { socket, server } = await serveOne('edu,id=edu0,x-dma-delay-ns=1000000');
    const c = await client(socket);
    const pci = new PciDeviceHandle(c);
    await pci.assignBars();
    await pci.enable();
    await pci.setupMsi(1);
    const irqs = new InterruptRecorder(c);
    const ram = c.allocateMemory(0x10000);
    await c.mapDma(ram, IOVA);
    const data = pattern(4096, 3);
    ram.write(0, data);
    await eduDma(c, IOVA, EDU_BUFFER, 4096, EDU_DMA_START);
    await eduDmaDone(c);

    // Past the end of the 4 KiB buffer: skipped, yet the command completes with its interrupt.
    ram.fill(0x1000, 0x1000, 0x55);
    await eduDma(c, IOVA + 0x1000n, EDU_BUFFER + 0xf00n, 0x200, EDU_DMA_START | EDU_DMA_IRQ);
    await irqs.next('msi');
    expect(await c.read32(0, EDU.irqStatus)).toBe(0x100);
    await c.write32(0, EDU.irqAck, 0x100);
    await eduDma(c, EDU_BUFFER, IOVA + 0x2000n, 0x1001, EDU_DMA_START | EDU_DMA_TO_RAM);
    await eduDmaDone(c);
    expect(ram.read(0x2000, 0x1001)).toEqual(new Uint8Array(0x1001));
    await logged(server, /guest error: edu .*DMA range 0x40f00-0x410ff out of the buffer/);
    await logged(server, /guest error: edu .*DMA range 0x40000-0x41000 out of the buffer/);

    // Bus addresses no mapping covers: the write is lost, the read gives zeros; both logged.
    await eduDma(c, EDU_BUFFER, 0x800_0000n, 0x100, EDU_DMA_START | EDU_DMA_TO_RAM);
    await eduDmaDone(c);
    await eduDma(c, 0x800_0000n, EDU_BUFFER + 0x200n, 0x10, EDU_DMA_START);
    await eduDmaDone(c);
    await logged(server, /guest error: edu .*DMA write to 0x8000000 \(\+0x100\) failed: decode-error/);
    await logged(server, /guest error: edu .*DMA read from 0x8000000 \(\+0x10\) failed: decode-error/);

    // The buffer kept everything outside the zero-filled 16 bytes, and DMA still works.
    const expected = data.slice();
    expected.fill(0, 0x200, 0x210);
    expect(await readEduBuffer(c, ram, 0, 4096, 0x4000)).toEqual(expected);
    await c.write32(0, EDU.liveness, 0x0f0f0f0f);
    expect(await c.read32(0, EDU.liveness)).toBe(0xf0f0f0f0);
    await c.close();
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('edu bus addresses', () => {
  it('masks bus addresses with dma_mask: clamped by default, 64-bit DMA above 4 GiB when widened', async () => {
    const data = pattern(0x100, 21);
    // Default 28-bit mask: 0x1010_0000 is clamped to 0x10_0000, where the RAM is mapped.
    {
      const { socket, server } = await serveOne('edu,id=edu0,x-dma-delay-ns=1000000');
      const c = await client(socket);
      const pci = new PciDeviceHandle(c);
      await pci.assignBars();
      await pci.enable();
      const ram = c.allocateMemory(0x10000);
      await c.mapDma(ram, IOVA);
      ram.write(0, data);
      await eduDma(c, 0x1000_0000n + IOVA, EDU_BUFFER, 0x100, EDU_DMA_START);
      await eduDmaDone(c);
      expect(await readEduBuffer(c, ram, 0, 0x100, 0x1000)).toEqual(data);
      await logged(server, /guest error: edu .*clamping DMA address 0x10100000 to 0x100000/);
    }
    // Widened to 64 bits: RAM mapped above 4 GiB is reached through both halves of the registers.
    {
      const high = 0x1_2340_0000n;
      const { socket } = await serveOne('edu,id=edu1,x-dma-delay-ns=1000000,dma_mask=0xffffffffffffffff');
      const c = await client(socket);
      const pci = new PciDeviceHandle(c);
      await pci.assignBars();
      await pci.enable();
      const ram = c.allocateMemory(0x10000);
      await c.mapDma(ram, high);
      ram.write(0x100, data);
      await eduDma(c, high + 0x100n, EDU_BUFFER, 0x100, EDU_DMA_START);
      await eduDmaDone(c);
      expect(await c.read64(0, EDU.dmaSrc)).toBe(high + 0x100n);
      // As in QEMU, a 4-byte write to the upper half of a DMA register is ignored (it reads
      // all-ones); a 4-byte write to the low half zero-extends; 8-byte writes program it whole.
      const dst = high + 0x8000n;
      await c.write32(0, EDU.dmaSrc, Number(EDU_BUFFER));
      await c.write32(0, EDU.dmaDst, Number(dst & 0xffff_ffffn));
      await c.write32(0, EDU.dmaDst + 4, Number(dst >> 32n));
      expect(await c.read32(0, EDU.dmaDst + 4)).toBe(0xffff_ffff);
      expect(await c.read64(0, EDU.dmaDst)).toBe(dst & 0xffff_ffffn);
      await c.write64(0, EDU.dmaDst, dst);
      await c.write32(0, EDU.dmaCount, 0x100);
      await c.write32(0, EDU.dmaCmd, Number(EDU_DMA_START | EDU_DMA_TO_RAM));
      await eduDmaDone(c);
      expect(await c.read64(0, EDU.dmaDst)).toBe(dst);
      expect(ram.read(0x8000, 0x100)).toEqual(data);
    }
  });
});

describe('edu client lifecycle', () => {
  it('survives a client that goes away while the device waits on its DMA_READ, and serves the next one', async () => {
    const { socket, server } = await serveOne('edu,id=edu0,x-dma-delay-ns=1000000');
    const channel = await connectChannel(socket);
    const first = await VfioUserClient.fromChannel(channel);
    onTestFinished(() => first.close());
    const pci = new PciDeviceHandle(first);
    await pci.assignBars();
    await pci.enable();
    const ram = first.allocateMemory(0x10000);
    await first.mapDma(ram, IOVA, { viaMessages: true });
    await first.write32(0, EDU.liveness, 0x1234);
    // Take over the client's side of DMA: hold the server's DMA_READ unanswered.
    const dmaRequested = new Promise<number>((resolve) => {
      channel.onRequest((request) => {
        resolve(request.header.command);
        return new Promise<undefined>(() => {});
      });
    });
    await eduDma(first, IOVA, EDU_BUFFER, 0x100, EDU_DMA_START | EDU_DMA_IRQ);
    expect(await dmaRequested).toBe(Command.DmaRead);
    await first.close();
    await logged(server, /info: client disconnected/);

    // The next client finds the device reset and working.
    const c = await client(socket);
    const next = new PciDeviceHandle(c);
    await next.assignBars();
    await next.enable();
    expect(await c.read32(0, EDU.liveness)).toBe(0);
    expect(await c.read32(0, EDU.dmaCmd)).toBe(0);
    expect(await c.read32(0, EDU.irqStatus)).toBe(0);
    const ram2 = c.allocateMemory(0x10000);
    await c.mapDma(ram2, IOVA);
    ram2.write(0, pattern(0x100, 9));
    await eduDma(c, IOVA, EDU_BUFFER, 0x100, EDU_DMA_START);
    await eduDmaDone(c);
    expect(await readEduBuffer(c, ram2, 0, 0x100, 0x1000)).toEqual(pattern(0x100, 9));
    await c.close();
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });
});

/** Connects to a serial line's UNIX socket as its peer; closed when the test ends. */
async function connectPeer(path: string): Promise<Socket> {
  const peer: Socket = await new Promise((resolve, reject) => {
    const s = connectUnix({ path }, () => {
      s.off('error', reject);
      // A peer the backend hangs up on sees its writes fail; the close says it all.
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', reject);
  });
  onTestFinished(() => void peer.destroy());
  return peer;
}

describe('pci-serial through vfu-server', () => {
  /** A server with a UART whose line is a socket, the test holding the other end. */
  async function serialWithSocketLine() {
    const dir = tempDir();
    const line = dir.join('ttyS.sock');
    const { socket, server } = await serveOne(`pci-serial,id=ser0,chardev=socket:${line}`);
    const peer = await connectPeer(line);
    let received = Buffer.alloc(0);
    const arrivals = new Set<() => void>();
    peer.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      for (const a of [...arrivals]) a();
    });
    /** Resolves once the backend side has received `n` bytes in total. */
    const receivedBytes = (n: number) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          if (received.length < n) return;
          clearTimeout(timer);
          arrivals.delete(check);
          resolve(received.toString('latin1'));
        };
        const timer = setTimeout(() => {
          arrivals.delete(check);
          reject(
            new Error(`backend got ${JSON.stringify(received.toString('latin1'))}, expected ${n} bytes`),
          );
        }, 5000);
        arrivals.add(check);
        check();
      });
    const c = await client(socket);
    const pci = new PciDeviceHandle(c);
    await pci.assignBars();
    await pci.enable();
    await pci.setupIntx();
    return { server, line, peer, receivedBytes, c, irqs: new InterruptRecorder(c) };
  }

  it('sends THR bytes to the backend, with a THRE interrupt after each write', async () => {
    const { line, peer, receivedBytes, c, irqs } = await serialWithSocketLine();
    expect(await c.read8(0, UART.lsr)).toBe(0x60); // THRE | TEMT
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_NO_INT);

    // Enabling THRI with THR empty raises it at once; reading IIR clears it.
    await c.write8(0, UART.ier, IER_THRI);
    await irqs.next('intx');
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_THRI);
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_NO_INT);
    await c.unmaskIrq(VfioPciIrq.Intx);

    const text = 'vfio-user\r\n';
    for (const ch of text) {
      await c.write8(0, UART.rbrThr, ch.charCodeAt(0));
      await irqs.next('intx');
      expect(await c.read8(0, UART.lsr)).toBe(LSR_THRE | 0x40);
      expect(await c.read8(0, UART.iirFcr)).toBe(IIR_THRI);
      await c.unmaskIrq(VfioPciIrq.Intx);
    }
    expect(await receivedBytes(text.length)).toBe(text);

    // The line takes one peer at a time: a newcomer waits its turn (nothing it sends reaches the
    // guest meanwhile), takes over when the old one goes, and gets what is sent after that.
    const next = await connectPeer(line);
    next.write('?');
    expect((await c.read8(0, UART.lsr)) & LSR_DR).toBe(0);
    peer.destroy();
    await until(
      () => c.read8(0, UART.lsr),
      (v) => (v & LSR_DR) !== 0,
      'the waiting peer to take the line',
    );
    expect(await c.read8(0, UART.rbrThr)).toBe(0x3f);
    const echoed = new Promise<string>((resolve) =>
      next.once('data', (b: Buffer) => resolve(b.toString('latin1'))),
    );
    await c.write8(0, UART.rbrThr, 0x21);
    expect(await echoed).toBe('!');
  });

  it('hands backend bytes to RBR with the received-data interrupt, FIFO flow control included', async () => {
    const { peer, c, irqs } = await serialWithSocketLine();
    // The slowest line (divisor 0xffff: 4 character times take over 20 s), so no character
    // timeout can overtake the received-data interrupt on a slow machine.
    await c.write8(0, UART.lcr, 0x80); // DLAB
    await c.write8(0, UART.rbrThr, 0xff); // DLL
    await c.write8(0, UART.ier, 0xff); // DLM
    await c.write8(0, UART.lcr, 0x03); // 8N1
    expect(await c.read8(0, UART.ier)).toBe(0);
    await c.write8(0, UART.iirFcr, 0x07); // FIFOs on and cleared, trigger level 1
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_FIFO | IIR_NO_INT);
    await c.write8(0, UART.ier, IER_RDI);
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_FIFO | IIR_NO_INT);

    peer.write('A');
    await irqs.next('intx');
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_FIFO | IIR_RDI);
    expect((await c.read8(0, UART.lsr)) & LSR_DR).toBe(LSR_DR);
    expect(await c.read8(0, UART.rbrThr)).toBe(0x41);
    expect(await c.read8(0, UART.lsr)).toBe(LSR_THRE | 0x40);
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_FIFO | IIR_NO_INT);
    await c.unmaskIrq(VfioPciIrq.Intx);

    // More than the 16-byte FIFO holds: the backend is held back, nothing overruns, nothing is lost.
    const burst = Array.from({ length: 100 }, (_, i) => String.fromCharCode(0x20 + (i % 95))).join('');
    peer.write(burst);
    await irqs.next('intx');
    let got = '';
    while (got.length < burst.length) {
      const lsr = await until(
        () => c.read8(0, UART.lsr),
        (v) => (v & LSR_DR) !== 0,
        `byte ${got.length} of the burst`,
      );
      expect(lsr & LSR_OE).toBe(0);
      got += String.fromCharCode(await c.read8(0, UART.rbrThr));
    }
    expect(got).toBe(burst);
    expect(await c.read8(0, UART.lsr)).toBe(LSR_THRE | 0x40);
  });

  it('paces the backend to a FIFO-less RBR, and flags a character timeout below the trigger level', async () => {
    const { peer, c, irqs } = await serialWithSocketLine();
    await c.write8(0, UART.ier, IER_RDI);
    // No FIFO: one byte at a time in RBR; the rest waits in the backend, so nothing overruns.
    peer.write('xyz');
    await irqs.next('intx');
    let got = '';
    while (got.length < 3) {
      const lsr = await until(
        () => c.read8(0, UART.lsr),
        (v) => (v & LSR_DR) !== 0,
        `byte ${got.length}`,
      );
      expect(lsr & LSR_OE).toBe(0);
      expect(await c.read8(0, UART.iirFcr)).toBe(IIR_RDI);
      got += String.fromCharCode(await c.read8(0, UART.rbrThr));
    }
    expect(got).toBe('xyz');
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_NO_INT);
    await c.unmaskIrq(VfioPciIrq.Intx);

    // FIFOs with a trigger level of 4: two bytes raise no received-data interrupt, only the
    // character timeout four character times later.
    await c.write8(0, UART.iirFcr, 0x47);
    peer.write('ab');
    await irqs.next('intx');
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_FIFO | IIR_CTI);
    expect(await c.read8(0, UART.rbrThr)).toBe(0x61);
    expect(await c.read8(0, UART.rbrThr)).toBe(0x62);
    expect(await c.read8(0, UART.iirFcr)).toBe(IIR_FIFO | IIR_NO_INT);
  });
});

describe('pci-idio-16 through vfu-server', () => {
  it('shows output writes to the monitor and delivers monitor input changes with their interrupt', async () => {
    const dir = tempDir();
    const qmpPath = dir.join('qmp.sock');
    const { socket } = await serveOne('pci-idio-16,id=gpio0,inputs=0x00ff', ['-monitor', qmpPath]);
    const qmp = await monitor(qmpPath);
    const c = await client(socket);
    expect(c.region(IDIO_BAR).size).toBe(0x100n);
    const pci = new PciDeviceHandle(c);
    await pci.assignBars();
    await pci.enable();
    await pci.setupIntx();
    const irqs = new InterruptRecorder(c);
    /** The device's levels as the monitor reports them (a mask of 0 changes nothing). */
    const levels = async () =>
      (await qmp.execute('gpio-set-inputs', { id: 'gpio0', value: 0, mask: 0 })).return;

    // Outputs written by the client are what the server-side device drives.
    expect(await levels()).toEqual({ inputs: 0x00ff, outputs: 0 });
    await c.write8(IDIO_BAR, IDIO.out0, 0xa5);
    await c.write8(IDIO_BAR, IDIO.out8, 0x3c);
    expect(await levels()).toEqual({ inputs: 0x00ff, outputs: 0x3ca5 });
    expect(await c.read8(IDIO_BAR, IDIO.out0)).toBe(0xa5);

    // Inputs set through the monitor are what the client reads.
    expect(await c.read8(IDIO_BAR, IDIO.in0)).toBe(0xff);
    expect(await c.read8(IDIO_BAR, IDIO.in8)).toBe(0x00);
    expect(await c.read8(IDIO_BAR, IDIO.irqCtl)).toBe(0); // reading enables the change interrupt
    expect(
      (await qmp.execute('gpio-set-inputs', { id: 'gpio0', value: 0x8100, mask: 0xff00 })).return,
    ).toEqual({
      inputs: 0x81ff,
      outputs: 0x3ca5,
    });
    await irqs.next('intx');
    expect(await c.read8(IDIO_BAR, IDIO.irqStatus)).toBe(0x06); // pending, inputs 8-15 changed
    expect(await c.read8(IDIO_BAR, IDIO.in8)).toBe(0x81);
    expect(await c.read8(IDIO_BAR, IDIO.in0)).toBe(0xff);
    await c.write8(IDIO_BAR, IDIO.in0, 0); // clear the interrupt
    expect(await c.read8(IDIO_BAR, IDIO.irqStatus)).toBe(0);
    await c.unmaskIrq(VfioPciIrq.Intx);

    // With the interrupt disabled a change only shows in the input registers.
    await c.write8(IDIO_BAR, IDIO.irqCtl, 0);
    await qmp.execute('gpio-set-inputs', { id: 'gpio0', value: 0x0000, mask: 0xff00 });
    expect(await c.read8(IDIO_BAR, IDIO.in8)).toBe(0x00);
    expect(await c.read8(IDIO_BAR, IDIO.irqStatus)).toBe(0);
    // Enabled again, a change on inputs 0-7 is the one (and only) interrupt reported.
    await c.read8(IDIO_BAR, IDIO.irqCtl);
    await qmp.execute('gpio-set-inputs', { id: 'gpio0', value: 0x0001, mask: 0x000f });
    await irqs.next('intx');
    expect(await c.read8(IDIO_BAR, IDIO.irqStatus)).toBe(0x05);
    expect(await c.read8(IDIO_BAR, IDIO.in0)).toBe(0xf1);
    expect(irqs.signals).toBe(2n);
    expect(await levels()).toEqual({ inputs: 0x00f1, outputs: 0x3ca5 });

    // The client leaving resets the card: outputs off; the inputs stay as the world drives them.
    await c.close();
    expect(await qmp.waitForEvent('VFIO_USER_CLIENT_DISCONNECTED')).toMatchObject({
      data: { endpoint: 's0' },
    });
    expect(await levels()).toEqual({ inputs: 0x00f1, outputs: 0 });
  });
});

describe('pci-testdev through vfu-server', () => {
  /** One BAR's tests as pci-testdev.txt records them from QEMU. */
  const BARS = [
    {
      region: VfioPciRegion.Bar0,
      base: 0,
      tests: [
        { offset: 0x800, data: 0xfa, name: 'mmio-no-eventfd', counts: [2, 2, 3] },
        { offset: 0x801, data: 0xce, name: 'mmio-wildcard-eventfd', counts: [0, 0, 0] },
        { offset: 0x802, data: 0xfa, name: 'mmio-datamatch-eventfd', counts: [0, 0, 1] },
      ],
    },
    {
      region: VfioPciRegion.Bar1,
      base: 3,
      tests: [
        { offset: 0x83, data: 0xfa, name: 'portio-no-eventfd', counts: [2, 2, 2] },
        { offset: 0x84, data: 0xce, name: 'portio-wildcard-eventfd', counts: [0, 0, 1] },
        { offset: 0x85, data: 0xfa, name: 'portio-datamatch-eventfd', counts: [0, 0, 0] },
      ],
    },
  ] as const;

  it('counts writes at each test offset on both BARs as QEMU does', async () => {
    const { socket } = await serveOne('pci-testdev,id=t0');
    const c = await client(socket);
    const pci = new PciDeviceHandle(c);
    await pci.assignBars();
    await pci.enable();
    const name = async (region: number) => {
      const bytes = await c.regionRead(region, 0x10, 0x20);
      return new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0)));
    };

    for (const { region, base, tests } of BARS) {
      expect(await c.regionRead(region, 0, 16)).toEqual(new Uint8Array(16)); // nothing selected
      for (const [i, t] of tests.entries()) {
        await c.write8(region, 0, i);
        expect(await c.read8(region, 0)).toBe(base + i); // the global test index
        expect(await c.read8(region, 1)).toBe(1);
        expect(await c.read32(region, 4)).toBe(t.offset);
        expect(await c.read32(region, 8)).toBe(t.data);
        expect(await c.read32(region, 12)).toBe(0);
        expect(await name(region)).toBe(t.name);

        await c.write8(region, t.offset, t.data);
        await c.write8(region, t.offset, t.data);
        expect(await c.read32(region, 12)).toBe(t.counts[0]);
        await c.write8(region, t.offset, t.data ^ 0xff);
        expect(await c.read32(region, 12)).toBe(t.counts[1]);
        await c.write16(region, t.offset, t.data);
        expect(await c.read32(region, 12)).toBe(t.counts[2]);
        await c.write8(region, 0, i); // re-selecting zeroes the count
        expect(await c.read32(region, 12)).toBe(0);
      }
      await c.write8(region, 0, 0xff);
      expect(await c.regionRead(region, 0, 16)).toEqual(new Uint8Array(16));
    }

    // One test is current for the whole device, and both BARs read its header (as in QEMU).
    await c.write8(VfioPciRegion.Bar0, 0, 0);
    await c.write8(VfioPciRegion.Bar1, 0, 1);
    for (const region of [VfioPciRegion.Bar0, VfioPciRegion.Bar1]) {
      expect(await c.read8(region, 0)).toBe(4);
      expect(await c.read32(region, 4)).toBe(0x84);
      expect(await name(region)).toBe('portio-wildcard-eventfd');
    }
    // QEMU counts a write at the current test's offset through either BAR; the ioeventfd that
    // swallows matching writes sits on the test's own BAR only.
    await c.write8(VfioPciRegion.Bar1, 0x84, 0xce);
    expect(await c.read32(VfioPciRegion.Bar1, 12)).toBe(0);
    await c.write8(VfioPciRegion.Bar0, 0x84, 0xce);
    expect(await c.read32(VfioPciRegion.Bar1, 12)).toBe(1);
    await c.write8(VfioPciRegion.Bar1, 0, 0); // portio-no-eventfd at 0x83
    await c.write8(VfioPciRegion.Bar0, 0x83, 0xfa);
    await c.write8(VfioPciRegion.Bar1, 0x83, 0xfa);
    await c.write8(VfioPciRegion.Bar0, 0x83, 0x05);
    expect(await c.read32(VfioPciRegion.Bar0, 12)).toBe(2);
  });
});

describe('the default set', () => {
  it('serves every zoo device with its IDs, class and BARs', async () => {
    const dir = tempDir();
    const server = await startServer(['--runtime-dir', dir.path]);
    const QEMU_SUBSYSTEM = { subsystemVendorId: 0x1af4, subsystemId: 0x1100 };
    const expected: Record<string, { ids: object; bars: [number, string, bigint][]; caps: string[] }> = {
      edu: {
        ids: {
          vendorId: 0x1234,
          deviceId: 0x11e8,
          revision: 0x10,
          classCode: 0x00ff00,
          ...QEMU_SUBSYSTEM,
          interruptPin: 1,
        },
        bars: [[0, 'mem32', 0x10_0000n]],
        caps: ['MSI'],
      },
      'pci-testdev': {
        ids: {
          vendorId: 0x1b36,
          deviceId: 0x0005,
          revision: 0,
          classCode: 0x00ff00,
          ...QEMU_SUBSYSTEM,
          interruptPin: 0,
        },
        bars: [
          [0, 'mem32', 0x1000n],
          [1, 'io', 0x100n],
        ],
        caps: [],
      },
      'pci-serial': {
        ids: {
          vendorId: 0x1b36,
          deviceId: 0x0002,
          revision: 1,
          classCode: 0x070002,
          ...QEMU_SUBSYSTEM,
          interruptPin: 1,
        },
        bars: [[0, 'io', 8n]],
        caps: [],
      },
      'pci-idio-16': {
        ids: {
          vendorId: 0x494f,
          deviceId: 0x0dc8,
          revision: 0,
          classCode: 0,
          subsystemVendorId: 0,
          subsystemId: 0,
          interruptPin: 1,
        },
        bars: [[2, 'io', 0x100n]],
        caps: [],
      },
    };
    const endpoints = server.endpoints();
    expect(endpoints.map((e) => e.driver).sort()).toEqual(Object.keys(expected).sort());
    for (const e of endpoints) {
      const want = expected[e.driver as string];
      const c = await client(e.socketPath);
      const pci = new PciDeviceHandle(c);
      expect(await pci.header(), e.driver).toMatchObject(want?.ids ?? {});
      expect((await pci.sizeBars()).map((b) => [b.index, b.kind, b.size])).toEqual(want?.bars);
      expect((await pci.capabilities()).map((cap) => cap.name)).toEqual(want?.caps);
      await c.close();
    }
  });
});
