import { Errno, isProtocolError } from '@vfu/protocol';
import { MappedRegion } from '@vfu/sys';
import { describe, expect, it } from 'vitest';
import { DmaSpace } from './dma-space';
import { isClientError } from './errors';
import { GuestMemory } from './guest-memory';

describe('GuestMemory', () => {
  it('reads back what it writes, and a second mapping of the memfd sees it', () => {
    const mem = GuestMemory.create(0x2000, { name: 'test-ram' });
    try {
      mem.writeU32(0x10, 0xdeadbeef);
      mem.writeU64(0x18, 0x1122334455667788n);
      mem.write(0x1000, Uint8Array.of(1, 2, 3));
      expect(mem.readU32(0x10)).toBe(0xdeadbeef);
      expect(mem.readU64(0x18)).toBe(0x1122334455667788n);
      expect(mem.read(0x1000, 3)).toEqual(Uint8Array.of(1, 2, 3));
      const peer = MappedRegion.map(mem.fd);
      expect(peer.bytes(0x10, 0x14)).toEqual(Uint8Array.of(0xef, 0xbe, 0xad, 0xde));
      peer.unmap();
    } finally {
      mem.close();
    }
  });

  it('is sealed against shrinking so a peer mapping cannot fault', () => {
    const mem = GuestMemory.create(4096);
    try {
      expect(() => mem.fd.truncate(0)).toThrow();
    } finally {
      mem.close();
    }
  });

  it('refuses accesses outside itself and use after close', () => {
    const mem = GuestMemory.create(4096);
    expect(() => mem.read(4090, 8)).toThrow(expect.objectContaining({ code: 'out-of-range' }));
    expect(() => mem.write(-1, Uint8Array.of(1))).toThrow(expect.objectContaining({ code: 'out-of-range' }));
    mem.close();
    mem.close();
    expect(mem.closed).toBe(true);
    expect(() => mem.read(0, 1)).toThrow(expect.objectContaining({ code: 'closed' }));
  });

  it('refuses sizes that are not page multiples', () => {
    for (const size of [0, 100, -4096, 1.5]) {
      expect(() => GuestMemory.create(size)).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
    }
  });
});

describe('DmaSpace', () => {
  const setup = () => {
    const mem = GuestMemory.create(0x3000);
    const space = new DmaSpace();
    const rw = {
      iova: 0x10000n,
      size: 0x1000n,
      memory: mem,
      memoryOffset: 0x1000,
      readable: true,
      writable: true,
      viaFd: false,
    };
    const ro = {
      iova: 0x20000n,
      size: 0x1000n,
      memory: mem,
      memoryOffset: 0x2000,
      readable: true,
      writable: false,
      viaFd: false,
    };
    space.add(ro);
    space.add(rw);
    return { mem, space, rw, ro };
  };

  it('serves reads and writes at the mapping offset', () => {
    const { mem, space } = setup();
    space.write(0x10010n, Uint8Array.of(9, 8, 7));
    expect(mem.read(0x1010, 3)).toEqual(Uint8Array.of(9, 8, 7));
    expect(space.read(0x10010n, 3n)).toEqual(Uint8Array.of(9, 8, 7));
    expect(space.mappings.map((m) => m.iova)).toEqual([0x10000n, 0x20000n]);
    mem.close();
  });

  it('answers unmapped addresses with ENODEV and writes to read-only memory with EPERM', () => {
    const { mem, space } = setup();
    const errno = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isProtocolError(e) ? e.errno : -1;
      }
      return 0;
    };
    expect(errno(() => space.read(0x30000n, 4n))).toBe(Errno.ENODEV);
    expect(errno(() => space.read(0x10ffcn, 8n))).toBe(Errno.ENODEV); // crosses the end
    expect(errno(() => space.write(0x20000n, Uint8Array.of(1)))).toBe(Errno.EPERM);
    expect(errno(() => space.read(0x20000n, 4n))).toBe(0);
    mem.close();
    expect(errno(() => space.read(0x20000n, 4n))).toBe(Errno.EFAULT);
  });

  it('refuses overlapping mappings and forgets removed ones', () => {
    const { mem, space, rw } = setup();
    expect(() => space.checkFree(0x10800n, 0x1000n)).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
    expect(space.remove(rw)).toBe(true);
    expect(space.remove(rw)).toBe(false);
    space.checkFree(0x10800n, 0x1000n);
    space.clear();
    expect(space.mappings).toEqual([]);
    mem.close();
  });
});

describe('errors', () => {
  it('recognises client errors by shape', async () => {
    const { ClientError, VfioUserReplyError, isVfioUserReplyError } = await import('./errors');
    const e = new VfioUserReplyError(9, 22, 7);
    expect(e.message).toBe('REGION_READ failed on the server: EINVAL (22), msg_id 7');
    expect(e.commandName).toBe('REGION_READ');
    expect(isClientError(e)).toBe(true);
    expect(isVfioUserReplyError(e)).toBe(true);
    expect(isVfioUserReplyError(new ClientError('timeout', 'x'))).toBe(false);
    const copy = Object.assign(new Error('copy'), { name: 'ClientError', code: 'timeout', context: {} });
    expect(isClientError(copy)).toBe(true);
    expect(isClientError({ name: 'ClientError', code: 'nonsense' })).toBe(false);
    expect(isClientError(new Error('x'))).toBe(false);
  });
});
