import { describe, expect, it } from 'vitest';
import { NullCoBackend } from './null-co';

describe('null-co', () => {
  it('has QEMU default size and leaves buffers untouched on read unless read-zeroes=on', async () => {
    const plain = new NullCoBackend();
    expect(plain.size).toBe(1 << 30);
    const buf = new Uint8Array(512).fill(7);
    await plain.readv(0, buf);
    expect(buf[0]).toBe(7);
    const zeroes = new NullCoBackend({ size: 4096, readZeroes: true });
    await zeroes.readv(512, [buf.subarray(0, 100), buf.subarray(100)]);
    expect(buf.every((b) => b === 0)).toBe(true);
  });

  it('accepts writes, flushes, write-zeroes and discards, and keeps nothing', async () => {
    const b = new NullCoBackend({ size: 8192, readZeroes: true });
    await b.writev(0, new Uint8Array(4096).fill(1), { fua: true });
    await b.flush();
    await b.writeZeroes(0, 4096, { mayUnmap: true });
    await b.discard(4096, 4096);
    const out = new Uint8Array(4096).fill(9);
    await b.readv(0, out);
    expect(out.every((x) => x === 0)).toBe(true);
  });

  it('rejects requests outside the device and after close with typed errors', async () => {
    const b = new NullCoBackend({ size: 4096 });
    await expect(b.readv(4095, new Uint8Array(2))).rejects.toMatchObject({
      code: 'out-of-range',
      errnoName: 'EINVAL',
    });
    await expect(b.readv(-1, new Uint8Array(1))).rejects.toMatchObject({ code: 'out-of-range' });
    await b.close();
    await expect(b.readv(0, new Uint8Array(1))).rejects.toMatchObject({
      code: 'closed',
      errnoName: 'ESHUTDOWN',
    });
  });

  it('read-only rejects writes with EROFS', async () => {
    const b = new NullCoBackend({ size: 4096, readOnly: true });
    await expect(b.writev(0, new Uint8Array(512))).rejects.toMatchObject({
      code: 'read-only',
      errnoName: 'EROFS',
    });
    await expect(b.discard(0, 512)).rejects.toMatchObject({ code: 'read-only' });
    await expect(b.writeZeroes(0, 512)).rejects.toMatchObject({ code: 'read-only' });
    await b.readv(0, new Uint8Array(512));
  });

  it('keeps at most queue-depth requests in flight; close waits for them', async () => {
    const b = new NullCoBackend({ size: 4096, queueDepth: 2, latencyNs: 1_000_000 });
    let peak = 0;
    const ios = Array.from({ length: 6 }, () => {
      const p = b.readv(0, new Uint8Array(512));
      peak = Math.max(peak, b.inFlight);
      return p;
    });
    const closed = b.close();
    await Promise.all(ios);
    await closed;
    expect(peak).toBe(2);
    expect(b.inFlight).toBe(0);
  });
});
