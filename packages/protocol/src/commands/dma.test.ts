import { describe, expect, it } from 'vitest';
import { concat, expectProtocolError, framed, le, rawMessage, roundTrip, toHex } from '../../test/helpers';
import { decodeMessage, encodeMessage } from '../codec';
import { Command } from '../command';
import { DmaMapFlags, DmaUnmapFlags } from '../constants';
import { Errno } from '../errors';

const dmaMap = (flags: number, size = 0x1000n) =>
  le(['u32', 32], ['u32', flags], ['u64', 0n], ['u64', 0x20000n], ['u64', size]);
const dmaUnmap = (flags: number, addr = 0x1000n, size = 0x1000n, argsz = 24) =>
  le(['u32', argsz], ['u32', flags], ['u64', addr], ['u64', size]);

describe('DMA_MAP', () => {
  it('decodes a mapping with its fd', () => {
    const m = decodeMessage(framed(rawMessage({ command: 2, payload: dmaMap(3) }), [7]));
    expect(m).toEqual({
      kind: 'request',
      command: Command.DmaMap,
      msgId: 1,
      fds: [7],
      body: {
        argsz: 32,
        flags: DmaMapFlags.Read | DmaMapFlags.Write,
        offset: 0n,
        addr: 0x20000n,
        size: 0x1000n,
      },
    });
  });

  it("accepts libvfio-user's MMAP and FILE_IO flags when an fd is attached", () => {
    expect(
      decodeMessage(framed(rawMessage({ command: 2, payload: dmaMap(DmaMapFlags.FileIo | 1) }), [7])).kind,
    ).toBe('request');
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 2, payload: dmaMap(DmaMapFlags.Mmap) }))),
      Errno.EINVAL,
      'bad-fds',
    );
  });

  it('rejects unknown flags, two fds, a zero size and a wrapping range', () => {
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 2, payload: dmaMap(0x10) }))),
      Errno.EINVAL,
      'bad-field',
    );
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 2, payload: dmaMap(1) }), [1, 2])),
      Errno.EINVAL,
      'bad-fds',
    );
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 2, payload: dmaMap(1, 0n) }))),
      Errno.EINVAL,
      'bad-field',
    );
    const wrap = le(['u32', 32], ['u32', 1], ['u64', 0n], ['u64', 0xffff_ffff_ffff_f000n], ['u64', 0x2000n]);
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 2, payload: wrap }))),
      Errno.EINVAL,
      'bad-field',
    );
  });

  it('has a header-only reply', () => {
    const bytes = encodeMessage({ kind: 'reply', command: Command.DmaMap, msgId: 4, body: {} });
    expect(bytes.length).toBe(16);
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 2, flags: 1, payload: [0, 0, 0, 0] }))),
      Errno.EINVAL,
      'trailing-bytes',
    );
  });
});

describe('DMA_UNMAP', () => {
  it('decodes a single unmap and its echo', () => {
    const req = decodeMessage(framed(rawMessage({ command: 3, payload: dmaUnmap(0) })));
    expect(req).toMatchObject({ body: { argsz: 24, flags: 0, addr: 0x1000n, size: 0x1000n } });
    expect(toHex(encodeMessage(req))).toBe(toHex(rawMessage({ command: 3, payload: dmaUnmap(0) })));
    const rep = decodeMessage(framed(rawMessage({ command: 3, flags: 1, payload: dmaUnmap(0) })));
    expect(rep).toMatchObject({ kind: 'reply', body: { argsz: 24, addr: 0x1000n } });
  });

  it('decodes unmap-all, which needs addr and size 0', () => {
    const m = decodeMessage(framed(rawMessage({ command: 3, payload: dmaUnmap(DmaUnmapFlags.All, 0n, 0n) })));
    expect(m).toMatchObject({ body: { flags: DmaUnmapFlags.All, addr: 0n, size: 0n } });
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 3, payload: dmaUnmap(DmaUnmapFlags.All) }))),
      Errno.EINVAL,
      'bad-field',
    );
  });

  it('decodes the legacy dirty-bitmap form, request and reply', () => {
    const head = dmaUnmap(DmaUnmapFlags.GetDirtyBitmap, 0n, 0x10000n, 48);
    const req = decodeMessage(
      framed(rawMessage({ command: 3, payload: concat(head, le(['u64', 4096n], ['u64', 8n])) })),
    );
    expect(req).toMatchObject({ body: { bitmap: { pgsize: 4096n, size: 8n } } });
    expect(toHex(encodeMessage(req))).toBe(
      toHex(rawMessage({ command: 3, payload: concat(head, le(['u64', 4096n], ['u64', 8n])) })),
    );
    const payload = concat(head, le(['u64', 4096n], ['u64', 8n]), [0x81, 0, 0, 0, 0, 0, 0, 0]);
    const rep = decodeMessage(framed(rawMessage({ command: 3, flags: 1, payload })));
    expect(
      rep.kind === 'reply' &&
        rep.command === Command.DmaUnmap &&
        rep.body.form !== 'header-only' && [...(rep.body.bitmap?.data ?? [])],
    ).toEqual([0x81, 0, 0, 0, 0, 0, 0, 0]);
    expect(toHex(encodeMessage(rep))).toBe(toHex(rawMessage({ command: 3, flags: 1, payload })));
  });

  it('rejects an argsz too small for the bitmap', () => {
    const head = dmaUnmap(DmaUnmapFlags.GetDirtyBitmap, 0n, 0x10000n, 40);
    expectProtocolError(
      () =>
        decodeMessage(
          framed(rawMessage({ command: 3, payload: concat(head, le(['u64', 4096n], ['u64', 8n])) })),
        ),
      Errno.EINVAL,
      'bad-argsz',
    );
  });

  it('accepts the header-only reply of a device without DMA', () => {
    const m = decodeMessage(framed(rawMessage({ command: 3, flags: 1 })));
    expect(m).toMatchObject({ body: { form: 'header-only' } });
    expect(encodeMessage(m).length).toBe(16);
  });

  it('rejects flags other than 0, GET_DIRTY_BITMAP and ALL', () => {
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 3, payload: dmaUnmap(3) }))),
      Errno.EINVAL,
      'bad-field',
    );
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 3, payload: dmaUnmap(4) }))),
      Errno.EINVAL,
      'bad-field',
    );
  });
});

describe('DMA_READ / DMA_WRITE', () => {
  const access = (count: bigint, data: number[] = []) => concat(le(['u64', 0x4000n], ['u64', count]), data);

  it('decodes a DMA_READ request and its reply data as a view', () => {
    expect(decodeMessage(framed(rawMessage({ command: 11, payload: access(4n) })))).toMatchObject({
      body: { address: 0x4000n, count: 4n },
    });
    const bytes = rawMessage({ command: 11, flags: 1, payload: access(4n, [1, 2, 3, 4]) });
    const m = decodeMessage(framed(bytes));
    const data = m.kind === 'reply' && m.command === Command.DmaRead ? m.body.data : undefined;
    expect(data?.buffer).toBe(bytes.buffer);
    expect([...(data ?? [])]).toEqual([1, 2, 3, 4]);
  });

  it('decodes DMA_WRITE and the three reply forms', () => {
    const req = decodeMessage(framed(rawMessage({ command: 12, payload: access(2n, [9, 8]) })));
    expect(req.kind === 'request' && req.command === Command.DmaWrite && [...req.body.data]).toEqual([9, 8]);
    expect(decodeMessage(framed(rawMessage({ command: 12, flags: 1, payload: access(2n) })))).toMatchObject({
      body: { address: 0x4000n, count: 2n },
    });
    const short = rawMessage({ command: 12, flags: 1, payload: le(['u64', 0x4000n], ['u32', 2]) });
    const s = decodeMessage(framed(short));
    expect(s).toMatchObject({ body: { form: 'short', address: 0x4000n, count: 2n } });
    expect(toHex(encodeMessage(s))).toBe(toHex(short));
    expect(decodeMessage(framed(rawMessage({ command: 12, flags: 1 })))).toMatchObject({
      body: { form: 'header-only' },
    });
  });

  it('rejects a count that disagrees with the data', () => {
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 12, payload: access(3n, [1, 2]) }))),
      Errno.EINVAL,
      'short-payload',
    );
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 11, flags: 1, payload: access(1n, [1, 2]) }))),
      Errno.EINVAL,
      'trailing-bytes',
    );
  });

  it('refuses to encode data whose length is not count, naming the command', () => {
    const body = { address: 0x4000n, count: 2n, data: Uint8Array.of(1) };
    expect(() => encodeMessage({ kind: 'reply', command: Command.DmaRead, msgId: 1, body })).toThrow(
      'DMA_READ: data length differs from count',
    );
    expect(() => encodeMessage({ kind: 'request', command: Command.DmaWrite, msgId: 1, body })).toThrow(
      'DMA_WRITE: data length differs from count',
    );
  });

  it('rejects a count above the negotiated maximum with E2BIG', () => {
    expectProtocolError(
      () =>
        decodeMessage(framed(rawMessage({ command: 11, payload: access(2048n) })), { maxDataXferSize: 1024 }),
      Errno.E2BIG,
      'count-too-large',
    );
  });

  it('is refused as a command by a server and answered ENOSYS by a client role check', () => {
    const bytes = rawMessage({ command: 11, payload: access(4n) });
    expectProtocolError(
      () => decodeMessage(framed(bytes), { role: 'server' }),
      Errno.EINVAL,
      'unexpected-command',
    );
    expect(decodeMessage(framed(bytes), { role: 'client' }).kind).toBe('request');
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 13 })), { role: 'client' }),
      Errno.ENOSYS,
      'unexpected-command',
    );
  });

  it('round-trips a write into a caller buffer without allocating', () => {
    const dest = new Uint8Array(256);
    const out = encodeMessage(
      {
        kind: 'request',
        command: Command.DmaWrite,
        msgId: 9,
        body: { address: 1n, count: 3n, data: Uint8Array.of(1, 2, 3) },
      },
      dest,
    );
    expect(out.buffer).toBe(dest.buffer);
    expect(out.length).toBe(35);
    expect(
      roundTrip({ kind: 'request', command: Command.DmaRead, msgId: 2, body: { address: 5n, count: 7n } }),
    ).toMatchObject({
      body: { address: 5n, count: 7n },
    });
  });
});
