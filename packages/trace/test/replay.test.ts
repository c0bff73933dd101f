/**
 * Captures and replay end to end: vfu-server serves every zoo device with `--trace-file`, a client
 * drives each through a session, and replaying each captured session against a fresh server
 * reproduces every reply. The sessions are written so their replies do not depend on timing: work
 * the device does in the background (edu's factorial and DMA) is given a fixed wait, which the
 * paced replay keeps, rather than polled.
 */
import { readFileSync } from 'node:fs';
import { PciDeviceHandle, VfioUserClient } from '@vfu/client';
import {
  EDU_SPEC,
  EDU_SPEC_BUFFER,
  makeTempDir,
  referenceServerAvailable,
  referenceServerSkipReason,
  startReferenceServer,
} from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { captureStats, readCapture, replayAgainstServer } from '../src/index';

const available = referenceServerAvailable();
if (!available) {
  if (process.env.CI) throw new Error(referenceServerSkipReason());
  console.warn(`replay e2e skipped: ${referenceServerSkipReason()}`);
}

const DEVICES = [
  'edu,id=edu0,x-dma-delay-ns=1000000',
  'pci-testdev,id=td0',
  'pci-serial,id=ser0',
  'pci-idio-16,id=gpio0',
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One session per device: enumeration, BAR assignment, then device-specific accesses. */
async function session(socket: string, id: string): Promise<void> {
  const client = await VfioUserClient.connect(socket, { passFds: false, mmap: false });
  try {
    const pci = new PciDeviceHandle(client);
    await pci.header();
    const bars = await pci.assignBars();
    await pci.enable();
    const first = bars[0]?.bar.index ?? 0;
    if (id === 'edu0') {
      await client.read32(0, EDU_SPEC.ident);
      await client.write32(0, EDU_SPEC.liveness, 0x12345678);
      await client.read32(0, EDU_SPEC.liveness);
      await client.write32(0, EDU_SPEC.factorial, 6);
      await sleep(40);
      await client.read32(0, EDU_SPEC.status);
      await client.read32(0, EDU_SPEC.factorial);
      // DMA through messages: RAM -> device buffer, served by the client as DMA_READ.
      const ram = client.allocateMemory(0x10000);
      ram.write(
        0x100,
        Uint8Array.from({ length: 64 }, (_, i) => i * 3),
      );
      const mapping = await client.mapDma(ram, 0x100000n);
      await client.write64(0, EDU_SPEC.dmaSrc, 0x100100n);
      await client.write64(0, EDU_SPEC.dmaDst, EDU_SPEC_BUFFER);
      await client.write64(0, EDU_SPEC.dmaCount, 64n);
      await client.write64(0, EDU_SPEC.dmaCmd, 1n);
      await sleep(40);
      await client.read32(0, EDU_SPEC.dmaCmd);
      await client.unmapDma(mapping);
    } else {
      for (let off = 0; off < 8; off++) await client.read8(first, off);
      await client.write8(first, 0, 0x5a);
      await client.read8(first, 0);
    }
    await client.reset();
  } finally {
    await client.close();
  }
}

describe.skipIf(!available)('capture and replay of each zoo device', () => {
  it('replaying each captured session against a fresh server reproduces every reply', async () => {
    const dir = makeTempDir('vfu-cap-');
    onTestFinished(() => dir.remove());
    const file = dir.join('zoo.pcapng');
    const recorded = await startReferenceServer(DEVICES, {
      cleanup: onTestFinished,
      extraArgs: ['--trace-file', file],
    });
    const ids = ['edu0', 'td0', 'ser0', 'gpio0'];
    for (const id of ids) await session(recorded.sockets[id] as string, id);
    await recorded.process.stop();

    const messages = readCapture(readFileSync(file));
    const endpoints = [...new Set(messages.map((m) => m.endpoint))];
    expect(endpoints).toHaveLength(4);
    const stats = captureStats(messages);
    expect(stats.find((s) => s.command === 'DMA_READ')?.requests).toBeGreaterThan(0);

    const fresh = await startReferenceServer(DEVICES, { cleanup: onTestFinished });
    for (const [n, id] of ids.entries()) {
      const endpoint = endpoints[n] as string;
      const result = await replayAgainstServer(messages, fresh.sockets[id] as string, { endpoint });
      expect(result.difference, `${id} (${endpoint})`).toBeUndefined();
      const replies = messages.filter(
        (m) => m.endpoint === endpoint && m.direction === 's2c' && (m.bytes[8]! & 0xf) === 1,
      ).length;
      expect(result.matched).toBe(replies);
      expect(result.commands).toBeGreaterThan(20);
      if (id === 'edu0') expect(result.served).toBeGreaterThan(0);
    }
  });
});
