import { describe, expect, it } from 'vitest';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';
import type { AccessFault } from './types';

/** A DMA space with client memory mapped from an fd (RAM) and a message-served window (async). */
function setup() {
  const ctx = new MemoryContext('bus0');
  const root = MemoryRegion.container('dma', 1n << 64n);
  const ram = MemoryRegion.ram('fd-mapped', 0x1000n);
  const remote = new Uint8Array(0x1000);
  const log: string[] = [];
  const msg = MemoryRegion.asyncIo('msg-dma', 0x1000n, {
    async read(offset, dest) {
      log.push(`read ${offset.toString(16)}+${dest.length}`);
      await new Promise((r) => setTimeout(r, 1));
      dest.set(remote.subarray(Number(offset), Number(offset) + dest.length));
    },
    async write(offset, data) {
      log.push(`write ${offset.toString(16)}+${data.length}`);
      await Promise.resolve();
      remote.set(data, Number(offset));
    },
  });
  root.addSubregion(0x1_0000_0000n, ram);
  root.addSubregion(0x1_0000_1000n, msg);
  const as = ctx.createAddressSpace('dma', root);
  const faults: AccessFault[] = [];
  as.onAccessFault((f) => faults.push(f));
  return { ctx, root, ram, remote, msg, as, log, faults };
}

describe('asynchronous regions', () => {
  it('readAsync/writeAsync span RAM and message-served memory', async () => {
    const s = setup();
    const data = new Uint8Array(0x20).map((_, i) => i);
    expect(await s.as.writeAsync(0x1_0000_0ff0n, data)).toBe('ok');
    expect([...s.ram.ramBuffer!.subarray(0xff0)]).toEqual([...data.subarray(0, 0x10)]);
    expect([...s.remote.subarray(0, 0x10)]).toEqual([...data.subarray(0x10)]);
    const back = new Uint8Array(0x20);
    expect(await s.as.readAsync(0x1_0000_0ff0n, back)).toBe('ok');
    expect([...back]).toEqual([...data]);
    expect(s.log).toEqual(['write 0+16', 'read 0+16']);
  });

  it('synchronous access to an async region is an access-error (reads 0) and says why', () => {
    const s = setup();
    s.remote[0] = 5;
    expect(s.as.read(0x1_0000_1000n, new Uint8Array(1))).toBe('access-error');
    expect(s.as.readU8(0x1_0000_1000n)).toBe(0);
    expect(s.faults.map((f) => f.reason)).toEqual(['async-region', 'async-region']);
    expect(s.log).toEqual([]);
  });

  it('a rejected async access is an access-error with its cause', async () => {
    const ctx = new MemoryContext();
    const boom = new Error('client went away');
    const mr = MemoryRegion.asyncIo('gone', 0x100n, {
      read: () => Promise.reject(boom),
      write: () => Promise.reject(boom),
    });
    const as = ctx.createAddressSpace('as', mr);
    const faults: AccessFault[] = [];
    as.onAccessFault((f) => faults.push(f));
    const dest = new Uint8Array(4).fill(9);
    expect(await as.readAsync(0n, dest)).toBe('access-error');
    expect([...dest]).toEqual([0, 0, 0, 0]);
    expect(faults[0]).toMatchObject({ reason: 'callback-failed', cause: boom, isWrite: false });
  });

  it('async accesses also serve RAM, MMIO and unassigned memory', async () => {
    const s = setup();
    let mmioValue = 0;
    s.root.addSubregion(
      0x2000n,
      MemoryRegion.io('mmio', 0x10n, { read: () => 0x44, write: (_o, v) => (mmioValue = v) }),
    );
    expect(await s.as.writeAsync(0x2000n, new Uint8Array([1, 0, 0, 0]))).toBe('ok');
    expect(mmioValue).toBe(1);
    const d = new Uint8Array(1);
    expect(await s.as.readAsync(0x2000n, d)).toBe('ok');
    expect(d[0]).toBe(0x44);
    expect(await s.as.readAsync(0x3000n, d)).toBe('decode-error');
  });

  it('an access goes on past an awaited part, and its first failure is the result', async () => {
    const s = setup();
    const after = MemoryRegion.ram('after', 0x1000n);
    s.root.addSubregion(0x1_0000_2000n, after);
    const data = new Uint8Array(0x20).map((_, i) => i + 1);
    expect(await s.as.writeAsync(0x1_0000_1ff0n, data)).toBe('ok');
    expect([...s.remote.subarray(0xff0)]).toEqual([...data.subarray(0, 0x10)]);
    expect([...after.ramBuffer!.subarray(0, 0x10)]).toEqual([...data.subarray(0x10)]);

    // Failing async part first, then unassigned memory: the access-error stands, every byte reads 0.
    const ctx = new MemoryContext();
    const root = MemoryRegion.container('root', 0x1000n);
    root.addSubregion(
      0n,
      MemoryRegion.asyncIo('gone', 0x10n, {
        read: () => Promise.reject(new Error('client went away')),
        write: () => Promise.reject(new Error('client went away')),
      }),
    );
    root.addSubregion(
      0x20n,
      MemoryRegion.asyncIo('remote', 0x10n, { read: async () => {}, write: async () => {} }),
    );
    const as = ctx.createAddressSpace('as', root);
    const dest = new Uint8Array(0x20).fill(9);
    expect(await as.readAsync(0n, dest)).toBe('access-error');
    expect([...dest]).toEqual(new Array(0x20).fill(0));
    // Unassigned first, then a working async part: the decode-error stands.
    expect(await as.readAsync(0x10n, new Uint8Array(0x20))).toBe('decode-error');
  });

  it('bad arguments reject the promise with a MemoryError', async () => {
    const s = setup();
    await expect(s.as.readAsync(-1n, new Uint8Array(1))).rejects.toMatchObject({ code: 'invalid-address' });
  });

  it('the topology may change while an access is pending', async () => {
    const s = setup();
    const pending = s.as.readAsync(0x1_0000_1000n, new Uint8Array(4));
    s.msg.setEnabled(false);
    expect(await pending).toBe('ok');
    expect(await s.as.readAsync(0x1_0000_1000n, new Uint8Array(4))).toBe('decode-error');
  });
});
