import { VfioPciIrq, VfioPciRegion } from '@vfu/protocol';
import {
  EDU_SPEC,
  EDU_SPEC_BUFFER,
  referenceServerAvailable,
  referenceServerSkipReason,
  startReferenceServer,
} from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type ClientOptions, isVfioUserReplyError, PciDeviceHandle, VfioUserClient } from '../src/index';

const serverAvailable = referenceServerAvailable();

/** vfu-server serving `devices`, stopped (and its sockets removed) when the test finishes. */
const startServer = (devices: readonly string[]) =>
  startReferenceServer(devices, { cleanup: onTestFinished });

const EDU = EDU_SPEC;
const EDU_BUFFER = EDU_SPEC_BUFFER;
const IOVA = 0x10_0000n;

async function connect(socket: string, options: ClientOptions = {}): Promise<VfioUserClient> {
  const client = await VfioUserClient.connect(socket, options);
  return client;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

if (!serverAvailable) console.warn(`e2e skipped: ${referenceServerSkipReason()}`);

describe.skipIf(!serverAvailable)('against vfu-server in another process', () => {
  for (const passFds of [true, false]) {
    const path = passFds ? 'fd-passing DMA' : 'message DMA (no fds)';

    it(`drives edu: identity, factorial, reset, DMA round trip through guest RAM (${path})`, async () => {
      const { sockets } = await startServer(['edu,id=edu0,x-dma-delay-ns=1000000']);
      const client = await connect(sockets.edu0 as string, { passFds });
      try {
        expect(client.device.pci).toBe(true);
        expect(client.region(VfioPciRegion.Bar0).size).toBe(0x10_0000n);
        const pci = new PciDeviceHandle(client);
        expect(await pci.header()).toMatchObject({ vendorId: 0x1234, deviceId: 0x11e8, revision: 0x10 });
        const bars = await pci.assignBars();
        expect(bars.map((b) => [b.bar.index, b.bar.kind, b.bar.size])).toEqual([[0, 'mem32', 0x10_0000n]]);
        await pci.enable();

        expect(await client.read32(0, EDU.ident)).toBe(0x010000ed);
        await client.write32(0, EDU.factorial, 10);
        await until(async () => ((await client.read32(0, EDU.status)) & 1) === 0, 'factorial');
        expect(await client.read32(0, EDU.factorial)).toBe(3628800);

        const ram = client.allocateMemory(0x10_0000);
        const mapping = await client.mapDma(ram, IOVA);
        expect(mapping.viaFd).toBe(passFds);
        const pattern = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);
        ram.write(0x1000, pattern);
        // RAM -> edu buffer, then edu buffer -> RAM elsewhere.
        await client.write64(0, EDU.dmaSrc, IOVA + 0x1000n);
        await client.write64(0, EDU.dmaDst, EDU_BUFFER);
        await client.write64(0, EDU.dmaCount, 256n);
        await client.write64(0, EDU.dmaCmd, 1n);
        await until(async () => ((await client.read32(0, EDU.dmaCmd)) & 1) === 0, 'DMA to the device');
        await client.write64(0, EDU.dmaSrc, EDU_BUFFER);
        await client.write64(0, EDU.dmaDst, IOVA + 0x2000n);
        await client.write64(0, EDU.dmaCount, 256n);
        await client.write64(0, EDU.dmaCmd, 3n);
        await until(async () => ((await client.read32(0, EDU.dmaCmd)) & 1) === 0, 'DMA to RAM');
        expect(ram.read(0x2000, 256)).toEqual(pattern);

        await client.unmapDma(mapping);
        expect(client.dmaMappings).toEqual([]);

        await client.write32(0, EDU.liveness, 0x12345678);
        expect(await client.read32(0, EDU.liveness)).toBe(0xedcba987);
        await client.reset();
        // The register holds the inverted value; reset clears it, so it reads 0 (as QEMU's edu).
        expect(await client.read32(0, EDU.liveness)).toBe(0);
      } finally {
        await client.close();
      }
    });
  }

  it('delivers edu MSI through an eventfd, and the async iterator sees it too', async () => {
    const { sockets } = await startServer(['edu,id=edu0']);
    const client = await connect(sockets.edu0 as string);
    try {
      const pci = new PciDeviceHandle(client);
      await pci.enable();
      expect(await pci.setupMsi(1)).toBe(1);
      const iterator = client.interrupts();
      const msi = new Promise<number>((resolve) => client.once('msi', resolve));
      await client.write32(0, EDU.irqRaise, 0x1);
      expect(await msi).toBe(0);
      const next = await iterator.next();
      expect(next.value).toMatchObject({ kind: 'msi', index: VfioPciIrq.Msi, vector: 0 });
      await iterator.return?.();
      expect(await client.read32(0, EDU.irqStatus)).toBe(1);
      await client.write32(0, EDU.irqAck, 0x1);
      expect(await client.read32(0, EDU.irqStatus)).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('delivers edu INTx through an eventfd and unmasks it', async () => {
    const { sockets } = await startServer(['edu,id=edu0']);
    const client = await connect(sockets.edu0 as string);
    try {
      const pci = new PciDeviceHandle(client);
      await pci.enable();
      await pci.setupIntx();
      const intx = new Promise<void>((resolve) => client.once('intx', resolve));
      await client.write32(0, EDU.irqRaise, 0x4);
      await intx;
      await client.write32(0, EDU.irqAck, 0x4);
      await client.unmaskIrq(VfioPciIrq.Intx);
      await client.disableIrq(VfioPciIrq.Intx);
    } finally {
      await client.close();
    }
  });

  it('turns a server refusal into a typed error and stays usable', async () => {
    const { sockets } = await startServer(['edu,id=edu0']);
    const client = await connect(sockets.edu0 as string);
    try {
      // ERR only takes ACTION_TRIGGER (libvfio-user's rule too): masking it is refused with EINVAL.
      const error = await client.maskIrq(VfioPciIrq.Err, 0, 1).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isVfioUserReplyError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'error-reply', errno: 22, command: 8 });
      expect(typeof (error as { msgId: number }).msgId).toBe('number');
      await expect(client.read32(0, 0x10_0000)).rejects.toMatchObject({ code: 'out-of-range' });
      expect(await client.read32(0, EDU.ident)).toBe(0x010000ed);
    } finally {
      await client.close();
    }
  });

  it('fails pending requests with `disconnected` when the server is killed mid-request', async () => {
    const { sockets, process: server } = await startServer(['edu,id=edu0']);
    const client = await connect(sockets.edu0 as string);
    const disconnect = new Promise((resolve) => client.once('disconnect', resolve));
    // More reads in flight than one transport read burst (64 replies), so replies can still be
    // queued when the kill resets the socket; every request must settle as disconnected or closed.
    // (@vfu/sys's unit tests pin the poll-error case down deterministically.)
    const reads = Array.from({ length: 300 }, () =>
      client.read32(0, EDU.ident).then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    server.child.kill('SIGKILL');
    const results = await Promise.all(reads);
    const failures = results.filter((r) => r !== 'ok');
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures)
      expect(f).toMatchObject({ code: expect.stringMatching(/^(disconnected|closed)$/) });
    expect(await disconnect).toMatchObject({ code: 'disconnected' });
    expect(client.closed).toBe(true);
    await expect(client.read32(0, EDU.ident)).rejects.toMatchObject({ code: 'closed' });
    await client.close();
  });

  it('loops bytes through the 16550 in loopback mode and reads the GPIO card', async () => {
    const { sockets } = await startServer(['pci-serial,id=ser0', 'pci-idio-16,id=gpio0,inputs=0x00ff']);
    const serial = await connect(sockets.ser0 as string);
    const gpio = await connect(sockets.gpio0 as string);
    try {
      expect((await new PciDeviceHandle(serial).header()).classCode).toBe(0x070002);
      await new PciDeviceHandle(serial).enable();
      await serial.write8(0, 4, 0x10); // MCR loopback
      await serial.write8(0, 0, 0x5a); // THR
      expect((await serial.read8(0, 5)) & 1).toBe(1); // LSR data ready
      expect(await serial.read8(0, 0)).toBe(0x5a);

      expect(gpio.region(2).size).toBe(0x100n);
      await new PciDeviceHandle(gpio).enable();
      await gpio.write8(2, 0, 0xa5);
      expect(await gpio.read8(2, 0)).toBe(0xa5);
      expect(await gpio.read8(2, 1)).toBe(0xff);
      expect(await gpio.read8(2, 5)).toBe(0x00);
    } finally {
      await serial.close();
      await gpio.close();
    }
  });
});
