/**
 * Captures end to end: vfu-server serves every zoo device with `--trace-file` and a client drives
 * each through one session. Replaying each captured session against a fresh server reproduces
 * every reply, and the shipped Wireshark dissector (through tshark) decodes every message into the
 * same fields as @vfu/protocol. The sessions are written so their replies do not depend on timing:
 * work the device does in the background (edu's factorial and DMA) gets a fixed wait (250 ms,
 * ample on a loaded machine), which the paced replay keeps, rather than being polled.
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
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { captureStats, readCapture, replayAgainstServer, summarize } from '../src/index';
import { dissect, expectedFields, normalize, tshark } from './dissector';

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
      await sleep(250);
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
      await sleep(250);
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

/** The capture both tests use: each zoo device driven through one session by vfu-server. */
async function captureZoo(): Promise<{ file: string; dir: { remove(): void } }> {
  const dir = makeTempDir('vfu-cap-');
  const file = dir.join('zoo.pcapng');
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const recorded = await startReferenceServer(DEVICES, {
      cleanup: (fn) => cleanups.push(fn),
      extraArgs: ['--trace-file', file],
    });
    for (const id of IDS) await session(recorded.sockets[id] as string, id);
    await recorded.process.stop();
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
  return { file, dir };
}

const IDS = ['edu0', 'td0', 'ser0', 'gpio0'];

describe.skipIf(!available)('capture and replay of each zoo device', () => {
  let captured: { file: string; dir: { remove(): void } } | undefined;
  beforeAll(async () => {
    captured = await captureZoo();
  }, 60_000);
  afterAll(() => captured?.dir.remove());

  it('replaying each captured session against a fresh server reproduces every reply', async () => {
    const messages = readCapture(readFileSync(captured!.file));
    const endpoints = [...new Set(messages.map((m) => m.endpoint))];
    expect(endpoints).toHaveLength(4);
    const stats = captureStats(messages);
    expect(stats.find((s) => s.command === 'DMA_READ')?.requests).toBeGreaterThan(0);

    const fresh = await startReferenceServer(DEVICES, { cleanup: onTestFinished });
    for (const [n, id] of IDS.entries()) {
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

  it.skipIf(!tshark)(
    "the Wireshark dissector's fields agree with @vfu/protocol's decode, message by message",
    async () => {
      const messages = readCapture(readFileSync(captured!.file));
      const rows = await dissect(captured!.file);
      expect(rows).toHaveLength(messages.length);
      let compared = 0;
      for (const [i, m] of messages.entries()) {
        const row = rows[i] as Record<string, string>;
        const expected = expectedFields(m);
        for (const [field, value] of Object.entries(expected)) {
          expect(normalize(row[field] ?? ''), `message ${i} ${field}: ${summarize(m)}`).toBe(value);
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(messages.length * 5);
    },
  );
});
