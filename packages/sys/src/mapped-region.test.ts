import { closeSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { expectNoFdLeaks } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MappedRegion } from './mapped-region';
import { createMemfd, OwnedFd, Seal } from './owned-fd';

expectNoFdLeaks({ beforeEach, afterEach });

describe('MappedRegion', () => {
  it('maps a memfd shared: stores are visible through a second mapping', () => {
    const fd = createMemfd('shared', { size: 3 * 4096 });
    const a = MappedRegion.map(fd);
    const b = MappedRegion.map(fd, { offset: 4096, length: 4096 });
    expect(a.shared).toBe(true);
    expect(a.length).toBe(3 * 4096);
    a.bytes()[4096 + 10] = 0xab;
    expect(b.bytes()[10]).toBe(0xab);
    b.bytes()[0] = 0xcd;
    expect(a.bytes()[4096]).toBe(0xcd);
    a.unmap();
    b.unmap();
    fd.close();
  });

  it('stays valid after the fd is closed', () => {
    const fd = createMemfd('outlives', { size: 4096 });
    const region = MappedRegion.map(fd);
    fd.close();
    region.bytes()[1] = 7;
    expect(region.bytes()[1]).toBe(7);
    region.unmap();
  });

  it('maps a read-only fd copy-on-write: local stores do not fault and do not reach the file', () => {
    const fd = createMemfd('ro', { size: 4096 });
    const rw = MappedRegion.map(fd);
    rw.bytes()[0] = 1;
    const roNumber = openSync(`/proc/self/fd/${fd.fd}`, 'r');
    const ro = new OwnedFd(roNumber);
    expect(ro.access()).toBe('read');
    const view = MappedRegion.map(ro);
    expect(view.shared).toBe(false);
    expect(view.bytes()[0]).toBe(1);
    view.bytes()[0] = 99;
    expect(rw.bytes()[0]).toBe(1);
    expect(() => MappedRegion.map(ro, { mode: 'shared' })).toThrow(
      expect.objectContaining({ syscall: 'mmap', errnoName: 'EACCES' }),
    );
    for (const r of [rw, view]) r.unmap();
    ro.close();
    fd.close();
  });

  it('private mode on a read-write fd keeps stores local', () => {
    const fd = createMemfd('private', { size: 4096 });
    const shared = MappedRegion.map(fd);
    const priv = MappedRegion.map(fd, { mode: 'private' });
    priv.bytes()[0] = 5;
    expect(shared.bytes()[0]).toBe(0);
    shared.unmap();
    priv.unmap();
    fd.close();
  });

  it('detaches the buffer on unmap, so old views read as empty instead of crashing', () => {
    const fd = createMemfd('detach', { size: 4096 });
    const region = MappedRegion.map(fd);
    const view = region.bytes();
    const dv = new DataView(region.buffer);
    view[0] = 1;
    region.unmap();
    region.unmap();
    expect(region.mapped).toBe(false);
    expect(view.length).toBe(0);
    expect(view[0]).toBeUndefined();
    expect(() => dv.getUint8(0)).toThrow(TypeError);
    expect(() => region.buffer).toThrow(expect.objectContaining({ code: 'REGION_UNMAPPED' }));
    fd.close();
  });

  it('refuses ranges past the end of the file (which would raise SIGBUS) and bad offsets', () => {
    const fd = createMemfd('bounds', { size: 8192 });
    expect(() => MappedRegion.map(fd, { offset: 4096, length: 8192 })).toThrow(
      expect.objectContaining({ code: 'OUT_OF_RANGE' }),
    );
    expect(() => MappedRegion.map(fd, { offset: 100 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => MappedRegion.map(fd, { length: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => MappedRegion.map(fd, { offset: 8192 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    const empty = createMemfd('empty');
    expect(() => MappedRegion.map(empty)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    empty.close();
    fd.close();
    expect(() => MappedRegion.map(fd)).toThrow(expect.objectContaining({ code: 'FD_CLOSED' }));
  });

  it('refuses a device whose size fstat cannot vouch for', () => {
    const devNull = new OwnedFd(openSync('/dev/null', 'r+'));
    expect(() => MappedRegion.map(devNull, { length: 4096 })).toThrow(
      expect.objectContaining({ code: 'OUT_OF_RANGE' }),
    );
    closeSync(devNull.release());
  });

  it('reports whether the fd is sealed against shrinking', () => {
    const fd = createMemfd('seal', { size: 4096 });
    const before = MappedRegion.map(fd);
    fd.addSeals(Seal.SHRINK);
    const after = MappedRegion.map(fd);
    expect([before.shrinkSealed, after.shrinkSealed]).toEqual([false, true]);
    before.unmap();
    after.unmap();
    fd.close();
  });

  it('unmaps regions that are dropped without unmap() when collected', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const fd = createMemfd('forgotten', { size: 1 << 20 });
    const maps = () => fdMapCount(fd);
    for (let i = 0; i < 8; i++) MappedRegion.map(fd);
    expect(maps()).toBe(8);
    expect(gc).toBeTypeOf('function');
    if (gc) {
      for (let i = 0; i < 5 && maps() > 0; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(maps()).toBe(0);
    }
    fd.close();
  });
});

/** Number of mappings of `fd`'s file in /proc/self/maps. */
function fdMapCount(fd: OwnedFd): number {
  const target = readlinkSync(`/proc/self/fd/${fd.fd}`).replace(/ \(deleted\)$/, '');
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.includes(target)).length;
}
