import { MemoryContext, MemoryRegion } from '@vfu/memory';
import { createMemfd, MappedRegion } from '@vfu/sys';
import { describe, expect, onTestFinished, test } from 'vitest';
import { ClientRam, DMA_WINDOW } from './client-ram';

const W = DMA_WINDOW;

/** A sparse memfd of two windows and a page, mapped, behind a ClientRam in its own address space. */
function setup(flags: { canRead?: boolean; canWrite?: boolean; delta?: number } = {}) {
  const delta = flags.delta ?? 0;
  const size = 2 * W + 4096;
  const fd = createMemfd('client-ram', { size: size + delta + 4096 });
  const memory = MappedRegion.map(fd);
  onTestFinished(() => {
    memory.unmap();
    fd.close();
  });
  const memoryContext = new MemoryContext();
  const root = MemoryRegion.container('root', 1n << 48n);
  const as = memoryContext.createAddressSpace('dma', root);
  const ram = new ClientRam({
    bus: { memoryContext } as never,
    name: 'client',
    memory,
    delta,
    size: BigInt(size),
    canRead: flags.canRead ?? true,
    canWrite: flags.canWrite ?? true,
    owner: undefined,
    refuse: (what) => new Error(`refused ${what}`),
    lost: () => new Error('lost'),
  });
  memoryContext.transaction(() => root.addSubregion(0n, ram.region));
  return { ram, as, memory, size, delta };
}

/** Kinds of the windows, in window order. */
const kinds = (r: MemoryRegion) =>
  [...r._subregions].sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => s.kind);

describe('ClientRam larger than one window', () => {
  test('windows become RAM on first access, and accesses cross them', async () => {
    const { ram, as, memory } = setup();
    expect(kinds(ram.region)).toEqual(['async-io', 'async-io', 'async-io']);
    memory.bytes(W - 2, W + 2).set([1, 2, 3, 4]);
    const dest = new Uint8Array(4);
    expect(await as.readAsync(BigInt(W - 2), dest)).toBe('ok');
    expect([...dest]).toEqual([1, 2, 3, 4]);
    expect(kinds(ram.region)).toEqual(['ram', 'ram', 'async-io']);
    // Now RAM: the synchronous fast path reaches it.
    expect(as.read(BigInt(W - 2), dest)).toBe('ok');
    expect(await as.writeAsync(BigInt(2 * W + 10), Uint8Array.of(9))).toBe('ok');
    expect(memory.bytes(2 * W + 10, 2 * W + 11)[0]).toBe(9);
    expect(kinds(ram.region)).toEqual(['ram', 'ram', 'ram']);
  });

  test('dirty pages are reported across windows, made before or after logging started', async () => {
    const { ram, as } = setup();
    expect(await as.writeAsync(0n, Uint8Array.of(1))).toBe('ok');
    ram.setLogging(4096);
    expect(await as.writeAsync(BigInt(W + 4096), Uint8Array.of(1))).toBe('ok');
    expect(await as.writeAsync(BigInt(2 * W), Uint8Array.of(1))).toBe('ok');
    expect(await as.writeAsync(5n, Uint8Array.of(1))).toBe('ok');
    const pages: number[] = [];
    await ram.takeDirty((p) => pages.push(p));
    const P = W / 4096;
    expect(pages).toEqual([0, P + 1, 2 * P]);
    const again: number[] = [];
    await ram.takeDirty((p) => again.push(p));
    expect(again).toEqual([]);
  });

  test('read-only windows refuse writes; write-only memory refuses reads and stores across windows', async () => {
    const ro = setup({ canWrite: false });
    expect(await ro.as.writeAsync(BigInt(W), Uint8Array.of(1))).toBe('access-error');
    expect(await ro.as.readAsync(BigInt(W), new Uint8Array(1))).toBe('ok');
    expect(await ro.as.writeAsync(BigInt(W), Uint8Array.of(1))).toBe('access-error');
    const wo = setup({ canRead: false, delta: 512 });
    expect(await wo.as.readAsync(0n, new Uint8Array(1))).toBe('access-error');
    expect(await wo.as.writeAsync(BigInt(W - 1), Uint8Array.of(7, 8))).toBe('ok');
    expect([...wo.memory.bytes(512 + W - 1, 512 + W + 1)]).toEqual([7, 8]);
  });
});
