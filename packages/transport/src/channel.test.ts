import { Command, Errno, encodeHeader, HEADER_SIZE, ProtocolError } from '@vfu/protocol';
import { createMemfd, MappedRegion, type OwnedFd, UnixSocket } from '@vfu/sys';
import { expectNoFdLeaks, ownFds } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Channel, type ChannelOptions } from './channel';
import { channelPair } from './connect';
import type { TransportError } from './errors';

expectNoFdLeaks({ beforeEach, afterEach });

const open: Channel[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.destroy();
});

function pair(options: ChannelOptions = {}, peerOptions: ChannelOptions = options): [Channel, Channel] {
  const channels = channelPair(options, peerOptions);
  open.push(...channels);
  return channels;
}

/** A channel on one end and the raw socket on the other, to send hand-made bytes. */
function rawPair(options: ChannelOptions = {}): [Channel, UnixSocket] {
  const [a, b] = UnixSocket.pair();
  const channel = new Channel(a, options);
  open.push(channel);
  return [channel, b];
}

function header(fields: Parameters<typeof encodeHeader>[0]): Uint8Array {
  return encodeHeader(fields);
}

/** Reads whole messages from a raw socket (test side). */
async function readRaw(socket: UnixSocket, bytes: number): Promise<Uint8Array> {
  const out = new Uint8Array(bytes);
  let filled = 0;
  while (filled < bytes) {
    const r = socket.recvmsg(out.subarray(filled));
    if (r === null) {
      await new Promise<void>((resolve) =>
        socket.onReadable(() => {
          socket.onReadable(null);
          resolve();
        }),
      );
      continue;
    }
    if (r.bytes === 0) throw new Error('eof');
    filled += r.bytes;
  }
  return out;
}

function decodeRawHeader(b: Uint8Array) {
  const v = new DataView(b.buffer, b.byteOffset, 16);
  return {
    msgId: v.getUint16(0, true),
    command: v.getUint16(2, true),
    msgSize: v.getUint32(4, true),
    flags: v.getUint32(8, true),
    errorNo: v.getUint32(12, true),
  };
}

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe('request and reply', () => {
  it('sends a command with gathered payload parts and resolves with the matching reply', async () => {
    const [client, server] = pair();
    server.onRequest((req) => {
      expect(req.header).toMatchObject({ command: Command.RegionRead, type: 'command', noReply: false });
      return { payload: [text('echo:'), req.payload] };
    });
    const reply = await client.request(Command.RegionRead, [text('ab'), text('cd')]);
    expect(reply.header).toMatchObject({
      command: Command.RegionRead,
      type: 'reply',
      error: false,
      msgSize: 16 + 9,
    });
    expect(str(reply.payload)).toBe('echo:abcd');
  });

  it('numbers requests per direction and matches replies that arrive out of order', async () => {
    const [client, server] = pair({ serializeRequests: false });
    const ids: number[] = [];
    server.onRequest(async (req) => {
      ids.push(req.header.msgId);
      // The first request is answered last.
      await new Promise((resolve) => setTimeout(resolve, req.payload[0] === 1 ? 20 : 1));
      return { payload: req.payload };
    });
    const replies = await Promise.all(
      [1, 2, 3].map((n) => client.request(Command.DeviceGetInfo, new Uint8Array([n]))),
    );
    expect(replies.map((r) => r.payload[0])).toEqual([1, 2, 3]);
    expect(new Set(ids).size).toBe(3);
    expect(ids[1]).toBe(ids[0]! + 1);
  });

  it('rejects with ERROR_REPLY carrying errno, command and msgId when the handler throws a ProtocolError', async () => {
    const [client, server] = pair();
    server.onRequest(() => {
      throw new ProtocolError('bad-field', 'no such region', { errno: Errno.EINVAL });
    });
    const error = (await client
      .request(Command.DeviceGetRegionInfo, new Uint8Array(32))
      .catch((e) => e)) as TransportError;
    expect(error).toMatchObject({
      name: 'TransportError',
      code: 'ERROR_REPLY',
      errno: Errno.EINVAL,
      command: Command.DeviceGetRegionInfo,
    });
    expect(error.msgId).toBeTypeOf('number');
  });

  it('answers EIO and warns HANDLER_FAILED when a handler throws something else', async () => {
    const [client, server] = pair();
    const warnings: TransportError[] = [];
    server.on('warning', (w) => warnings.push(w));
    server.onRequest(() => {
      throw new Error('model bug');
    });
    await expect(client.request(Command.DeviceReset)).rejects.toMatchObject({
      code: 'ERROR_REPLY',
      errno: Errno.EIO,
    });
    expect(warnings.map((w) => w.code)).toEqual(['HANDLER_FAILED']);
  });

  it('uses the errno of any error that carries one', async () => {
    const [client, server] = pair();
    server.onRequest(() => Promise.reject(Object.assign(new Error('busy'), { errno: Errno.EBUSY })));
    await expect(client.request(Command.DeviceReset)).rejects.toMatchObject({ errno: Errno.EBUSY });
  });

  it('answers EINVAL when no handler is set', async () => {
    const [client, server] = pair();
    const warned = new Promise<TransportError>((resolve) => server.once('warning', resolve));
    await expect(client.request(Command.DmaRead, new Uint8Array(16))).rejects.toMatchObject({
      code: 'ERROR_REPLY',
      errno: Errno.EINVAL,
    });
    expect((await warned).code).toBe('HANDLER_FAILED');
  });

  it('coerces an error_no outside 1..4095 to EINVAL, as libvfio-user does', async () => {
    const [client, raw] = rawPair();
    const pending = client.request(Command.DeviceReset);
    const h = decodeRawHeader(await readRaw(raw, 16));
    raw.sendmsg(
      header({ msgId: h.msgId, command: h.command, msgSize: 16, type: 'reply', error: true, errorNo: 0 }),
    );
    await expect(pending).rejects.toMatchObject({ code: 'ERROR_REPLY', errno: Errno.EINVAL });
    raw.close();
  });

  it('rejects a reply whose command differs from the request', async () => {
    const [client, raw] = rawPair();
    const pending = client.request(Command.DeviceReset);
    const h = decodeRawHeader(await readRaw(raw, 16));
    raw.sendmsg(header({ msgId: h.msgId, command: Command.DmaMap, msgSize: 16, type: 'reply' }));
    await expect(pending).rejects.toMatchObject({ code: 'PROTOCOL_VIOLATION', errno: Errno.EPROTO });
    raw.close();
  });
});

describe('timeouts and aborts', () => {
  it('fails with TIMEOUT and drops the late reply quietly, closing its fds', async () => {
    const [client, server] = pair({ requestTimeoutMs: 20 });
    const warnings: TransportError[] = [];
    client.on('warning', (w) => warnings.push(w));
    const memfd = createMemfd('late');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    server.onRequest(async () => {
      await gate;
      return { fds: [memfd] };
    });
    await expect(
      client.request(Command.DeviceGetRegionInfo, undefined, { acceptFds: 1 }),
    ).rejects.toMatchObject({
      code: 'TIMEOUT',
      errno: Errno.ETIMEDOUT,
      command: Command.DeviceGetRegionInfo,
    });
    expect(client.pendingRequests).toBe(0);
    release();
    // A later request round-trips after the late reply was consumed and dropped.
    server.onRequest(() => ({}));
    await client.request(Command.DeviceReset, undefined, { timeoutMs: 0 });
    expect(warnings).toEqual([]);
    memfd.close();
  });

  it('times out each request at its own deadline and leaves the others running', async () => {
    const [client, server] = pair({ requestTimeoutMs: 0 });
    const answers = new Map<number, () => void>();
    server.onRequest(
      (req) =>
        new Promise((resolve) => {
          answers.set(req.payload[0]!, () => resolve({}));
        }),
    );
    const fast = client.request(Command.RegionRead, new Uint8Array([1]), { timeoutMs: 10 });
    const slow = client.request(Command.RegionRead, new Uint8Array([2]), { timeoutMs: 60_000 });
    const never = client.request(Command.RegionRead, new Uint8Array([3]));
    await expect(fast).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(client.pendingRequests).toBe(2);
    // Handlers run one at a time: release the first (its reply is dropped), then the others.
    answers.get(1)!();
    await vi.waitFor(() => expect(answers.has(2)).toBe(true));
    answers.get(2)!();
    await expect(slow).resolves.toBeDefined();
    await vi.waitFor(() => expect(answers.has(3)).toBe(true));
    answers.get(3)!();
    await expect(never).resolves.toBeDefined();
  });

  it('fails with ABORTED when the signal fires, and before sending when already aborted', async () => {
    const [client, server] = pair();
    server.onRequest(() => new Promise(() => {}));
    const controller = new AbortController();
    const pending = client.request(Command.DeviceReset, undefined, { signal: controller.signal });
    controller.abort(new Error('user gave up'));
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(
      client.request(Command.DeviceReset, undefined, { signal: controller.signal }),
    ).rejects.toMatchObject({
      code: 'ABORTED',
    });
  });
});

describe('requests from the peer', () => {
  it('lets a handler await its own request to the peer while the peer waits for its reply', async () => {
    const [client, server] = pair();
    // The client answers DMA_READ from its memory; the server's REGION_READ handler needs it.
    client.onRequest((req) => {
      expect(req.header.command).toBe(Command.DmaRead);
      return { payload: text('guest-data') };
    });
    server.onRequest(async () => {
      const dma = await server.request(Command.DmaRead, new Uint8Array(16));
      return { payload: dma.payload };
    });
    const reply = await client.request(Command.RegionRead, new Uint8Array(16));
    expect(str(reply.payload)).toBe('guest-data');
  });

  it('runs handlers one at a time in arrival order by default', async () => {
    const [client, server] = pair();
    const log: string[] = [];
    server.onRequest(async (req) => {
      const n = req.payload[0]!;
      log.push(`start ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 3 - n));
      log.push(`end ${n}`);
      return {};
    });
    await Promise.all([0, 1, 2].map((n) => client.request(Command.RegionWrite, new Uint8Array([n]))));
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('post sends No_reply commands: handled in order, never answered, even on failure', async () => {
    const [client, server] = pair();
    const seen: number[] = [];
    const warnings: TransportError[] = [];
    server.on('warning', (w) => warnings.push(w));
    server.onRequest((req) => {
      seen.push(req.payload[0]!);
      if (req.header.command === Command.RegionRead) return {};
      expect(req.header.noReply).toBe(true);
      if (req.payload[0] === 2) throw new Error('posted write failed');
      return { payload: text('ignored') };
    });
    const unexpected: TransportError[] = [];
    client.on('warning', (w) => unexpected.push(w));
    await client.post(Command.RegionWrite, new Uint8Array([1]));
    await client.post(Command.RegionWrite, new Uint8Array([2]));
    // A request after posted writes completes after them (in-order processing).
    await client.request(Command.RegionRead, new Uint8Array([3]));
    expect(seen).toEqual([1, 2, 3]);
    expect(warnings.map((w) => w.code)).toEqual(['HANDLER_FAILED']);
    expect(unexpected).toEqual([]);
  });
});

describe('file descriptors', () => {
  it('hands request fds to the handler and passes reply fds to the caller', async () => {
    const limits = { maxMessageSize: 4096, maxFdsPerMessage: 2 };
    const [client, server] = pair({ receiveLimits: limits, sendLimits: limits });
    const memfd = createMemfd('dma', { size: 4096 });
    const writer = MappedRegion.map(memfd);
    writer.bytes()[0] = 0x77;
    const extra = createMemfd('extra');
    let kept: OwnedFd[] = [];
    server.onRequest((req) => {
      expect(req.fds).toHaveLength(2);
      kept = req.takeFds();
      return { fds: [kept[0]!] };
    });
    const reply = await client.request(Command.DmaMap, new Uint8Array(32), {
      fds: [memfd, extra],
      acceptFds: 1,
    });
    memfd.close();
    extra.close();
    const [back] = reply.takeFds();
    expect(reply.takeFds()).toEqual([]);
    const region = MappedRegion.map(back!);
    expect(region.bytes()[0]).toBe(0x77);
    for (const r of [region, writer]) r.unmap();
    for (const f of [back!, ...kept]) f.close();
  });

  it('closes request fds a handler leaves untaken, also when it throws', async () => {
    const [client, server] = pair({}, { receiveLimits: { maxMessageSize: 4096, maxFdsPerMessage: 1 } });
    let received = -1;
    server.onRequest((req) => {
      received = req.fds[0]!;
      expect(ownFds().has(received)).toBe(true);
      throw new ProtocolError('bad-fds', 'unexpected fd');
    });
    const memfd = createMemfd('dropped');
    await expect(client.request(Command.DeviceReset, undefined, { fds: [memfd] })).rejects.toMatchObject({
      errno: Errno.EINVAL,
    });
    memfd.close();
    expect(ownFds().has(received)).toBe(false);
  });

  it('fails only the message when an fd to send is not open', async () => {
    const [client, server] = pair();
    server.onRequest(() => ({}));
    const memfd = createMemfd('gone');
    const n = memfd.fd;
    memfd.close();
    await expect(client.post(Command.DmaMap, new Uint8Array(32), { fds: [n] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      errno: 9,
    });
    await expect(client.post(Command.DmaMap, new Uint8Array(32), { fds: [memfd] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await client.request(Command.DeviceReset);
    expect(client.closed).toBe(false);
  });

  it('rejects a reply with more fds than the request accepted, closing them', async () => {
    const [client, server] = pair();
    const memfd = createMemfd('surprise');
    server.onRequest(() => ({ fds: [memfd] }));
    await expect(client.request(Command.DeviceGetInfo)).rejects.toMatchObject({
      code: 'UNEXPECTED_FDS',
      errno: Errno.EINVAL,
    });
    memfd.close();
  });

  it('attributes fds to their own message even when messages arrive back to back', async () => {
    const [channel, raw] = rawPair({ receiveLimits: { maxMessageSize: 4096, maxFdsPerMessage: 1 } });
    const a = createMemfd('a', { size: 4096 });
    const b = createMemfd('b', { size: 8192 });
    const sizes: number[][] = [];
    const done = new Promise<void>((resolve) =>
      channel.onRequest((req) => {
        const fds = req.takeFds();
        sizes.push(fds.map((f) => f.size()));
        for (const f of fds) f.close();
        if (sizes.length === 3) resolve();
        return {};
      }),
    );
    // Message 1 is written in two parts; message 2 (with an fd) follows before anything is read.
    const m1 = header({
      msgId: 1,
      command: Command.DmaMap,
      msgSize: 16 + 32,
      type: 'command',
      noReply: true,
    });
    raw.sendmsg([m1, new Uint8Array(10)], [a]);
    raw.sendmsg(new Uint8Array(22));
    raw.sendmsg(
      [
        header({ msgId: 2, command: Command.DmaMap, msgSize: 48, type: 'command', noReply: true }),
        new Uint8Array(32),
      ],
      [b],
    );
    raw.sendmsg([
      header({ msgId: 3, command: Command.DmaMap, msgSize: 48, type: 'command', noReply: true }),
      new Uint8Array(32),
    ]);
    await done;
    expect(sizes).toEqual([[4096], [8192], []]);
    a.close();
    b.close();
    raw.close();
  });
});

describe('limits', () => {
  it('skips an oversize command without buffering it, answers E2BIG and keeps the channel', async () => {
    const [channel, raw] = rawPair({ receiveLimits: { maxMessageSize: 1024, maxFdsPerMessage: 1 } });
    const warned = new Promise<TransportError>((resolve) => channel.once('warning', resolve));
    channel.onRequest(() => ({ payload: text('ok') }));
    const big = 1 << 20;
    const chunk = new Uint8Array(64 * 1024);
    raw.sendmsg(header({ msgId: 7, command: Command.RegionWrite, msgSize: 16 + big, type: 'command' }));
    let sent = 0;
    const pump = async () => {
      while (sent < big) {
        const n = raw.sendmsg(chunk.subarray(0, Math.min(chunk.length, big - sent)));
        if (n === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        sent += n;
      }
    };
    await pump();
    const reply = decodeRawHeader(await readRaw(raw, 16));
    expect(reply).toMatchObject({
      msgId: 7,
      command: Command.RegionWrite,
      msgSize: 16,
      errorNo: 7 /* E2BIG */,
    });
    expect((await warned).code).toBe('PROTOCOL_VIOLATION');
    // Still in sync: the next command is answered normally.
    raw.sendmsg(header({ msgId: 8, command: Command.DeviceReset, msgSize: 16, type: 'command' }));
    const ok = await readRaw(raw, 18);
    expect(decodeRawHeader(ok)).toMatchObject({ msgId: 8, msgSize: 18, flags: 1 });
    expect(channel.closed).toBe(false);
    raw.close();
  });

  it('rejects a command with more fds than allowed (EINVAL) and closes them all', async () => {
    const [channel, raw] = rawPair({ receiveLimits: { maxMessageSize: 1024, maxFdsPerMessage: 1 } });
    channel.onRequest(() => ({}));
    channel.on('warning', () => {});
    const fds = [createMemfd('1'), createMemfd('2'), createMemfd('3')];
    raw.sendmsg(header({ msgId: 3, command: Command.DeviceSetIrqs, msgSize: 16, type: 'command' }), fds);
    for (const f of fds) f.close();
    const reply = decodeRawHeader(await readRaw(raw, 16));
    expect(reply).toMatchObject({ msgId: 3, flags: 0x21, errorNo: Errno.EINVAL });
    raw.close();
  });

  it('applies new receive limits after negotiation', async () => {
    const [client, server] = pair();
    server.onRequest((req) => ({ payload: req.payload }));
    server.on('warning', () => {});
    client.setSendLimits({ maxMessageSize: 1 << 20, maxFdsPerMessage: 8 });
    server.setReceiveLimits({ maxMessageSize: 64, maxFdsPerMessage: 8 });
    await expect(client.request(Command.RegionWrite, new Uint8Array(100))).rejects.toMatchObject({
      errno: 7,
    });
    server.setReceiveLimits({ maxMessageSize: 4096, maxFdsPerMessage: 8 });
    const reply = await client.request(Command.RegionWrite, new Uint8Array(100));
    expect(reply.payload.length).toBe(100);
    expect(server.receiveLimits).toEqual({ maxMessageSize: 4096, maxFdsPerMessage: 8 });
  });

  it('rejects nonsensical receive limits with INVALID_ARGUMENT', () => {
    const [a, b] = UnixSocket.pair();
    expect(() => new Channel(a, { receiveLimits: { maxMessageSize: 8, maxFdsPerMessage: 1 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    const [client] = pair();
    expect(() => client.setReceiveLimits({ maxMessageSize: 1024, maxFdsPerMessage: -1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    a.close();
    b.close();
  });

  it('refuses to send what the peer would refuse, before writing anything', async () => {
    const [client, server] = pair({ sendLimits: { maxMessageSize: 64, maxFdsPerMessage: 0 } });
    const handler = vi.fn(() => ({}));
    server.onRequest(handler);
    await expect(client.request(Command.RegionWrite, new Uint8Array(100))).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      command: Command.RegionWrite,
    });
    const memfd = createMemfd('x');
    await expect(client.post(Command.DmaMap, undefined, { fds: [memfd] })).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    });
    memfd.close();
    expect(() => client.setSendLimits({ maxMessageSize: 3, maxFdsPerMessage: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    await client.request(Command.DeviceReset);
    expect(handler).toHaveBeenCalledTimes(1);
    expect(client.pendingRequests).toBe(0);
  });

  it('answers E2BIG when a handler reply exceeds the peer limit', async () => {
    const [client, server] = pair({}, { sendLimits: { maxMessageSize: 32, maxFdsPerMessage: 1 } });
    server.on('warning', () => {});
    server.onRequest(() => ({ payload: new Uint8Array(64) }));
    await expect(client.request(Command.RegionRead)).rejects.toMatchObject({
      code: 'ERROR_REPLY',
      errno: Errno.E2BIG,
    });
  });
});

describe('malformed input', () => {
  it('answers a command with reserved flag bits with EINVAL and stays in sync', async () => {
    const [channel, raw] = rawPair();
    channel.on('warning', () => {});
    channel.onRequest(() => ({}));
    const bad = header({ msgId: 5, command: Command.DeviceReset, msgSize: 16, type: 'command' });
    new DataView(bad.buffer).setUint32(8, 0x100, true);
    raw.sendmsg(bad);
    expect(decodeRawHeader(await readRaw(raw, 16))).toMatchObject({
      msgId: 5,
      flags: 0x21,
      errorNo: Errno.EINVAL,
    });
    raw.sendmsg(header({ msgId: 6, command: Command.DeviceReset, msgSize: 16, type: 'command' }));
    expect(decodeRawHeader(await readRaw(raw, 16))).toMatchObject({ msgId: 6, flags: 1 });
    raw.close();
  });

  it('closes the channel with PROTOCOL_VIOLATION when msg_size is below 16, releasing held fds', async () => {
    const [channel, raw] = rawPair({ receiveLimits: { maxMessageSize: 1024, maxFdsPerMessage: 1 } });
    const closed = new Promise<TransportError | undefined>((resolve) => channel.once('close', resolve));
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(4, 8, true);
    const memfd = createMemfd('held');
    raw.sendmsg(bad, [memfd]);
    memfd.close();
    expect(await closed).toMatchObject({ code: 'PROTOCOL_VIOLATION' });
    raw.close();
  });

  it('warns about a reply that matches no request and closes its fds', async () => {
    const [channel, raw] = rawPair({ receiveLimits: { maxMessageSize: 1024, maxFdsPerMessage: 1 } });
    const warned = new Promise<TransportError>((resolve) => channel.once('warning', resolve));
    const memfd = createMemfd('orphan');
    raw.sendmsg(header({ msgId: 999, command: Command.DmaRead, msgSize: 16, type: 'reply' }), [memfd]);
    memfd.close();
    expect(await warned).toMatchObject({ code: 'UNEXPECTED_REPLY', msgId: 999 });
    raw.close();
  });
});

describe('backpressure', () => {
  it('queues when the peer does not read, reports need-drain, and flushes in order once it reads', async () => {
    const [a, b] = UnixSocket.pair();
    const channel = new Channel(a, {
      writeHighWaterMark: 256 * 1024,
      sendLimits: { maxMessageSize: 1 << 20, maxFdsPerMessage: 1 },
    });
    open.push(channel);
    const payload = new Uint8Array(64 * 1024);
    const posts: Promise<void>[] = [];
    for (let i = 0; i < 32; i++) posts.push(channel.post(Command.RegionWrite, payload));
    expect(channel.writableLength).toBeGreaterThan(0);
    expect(channel.writableNeedDrain).toBe(true);
    const drained = new Promise<void>((resolve) => channel.once('drain', resolve));
    const total = 32 * (HEADER_SIZE + payload.length);
    const got = await readRaw(b, total);
    await Promise.all(posts);
    await drained;
    expect(channel.writableLength).toBe(0);
    expect(decodeRawHeader(got.subarray(31 * (16 + payload.length)))).toMatchObject({
      command: Command.RegionWrite,
      msgSize: 16 + payload.length,
    });
    b.close();
  });

  it('fails with WRITE_QUEUE_FULL at the bound instead of growing without limit', async () => {
    const [a, b] = UnixSocket.pair();
    const channel = new Channel(a, {
      maxWriteQueueBytes: 512 * 1024,
      sendLimits: { maxMessageSize: 1 << 20, maxFdsPerMessage: 1 },
    });
    open.push(channel);
    const payload = new Uint8Array(128 * 1024);
    const outcomes: string[] = [];
    const posts = Array.from({ length: 64 }, () =>
      channel.post(Command.RegionWrite, payload).then(
        () => outcomes.push('sent'),
        (e: TransportError) => outcomes.push(e.code),
      ),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(outcomes).toContain('WRITE_QUEUE_FULL');
    expect(channel.writableLength).toBeLessThanOrEqual(512 * 1024);
    // Tearing down fails what is still queued.
    channel.destroy();
    await Promise.all(posts);
    expect(outcomes).toContain('CLOSED');
    expect(outcomes).not.toContain(undefined);
    b.close();
  });
});

describe('close and dead peers', () => {
  it('fails every pending request with PEER_CLOSED when the peer goes away, and emits close with the reason', async () => {
    const [client, server] = pair();
    server.onRequest(() => new Promise(() => {}));
    const closed = new Promise<TransportError | undefined>((resolve) => client.once('close', resolve));
    const errors: TransportError[] = [];
    client.on('error', (e) => errors.push(e));
    const pending = [client.request(Command.DeviceReset), client.request(Command.DeviceGetInfo)];
    await new Promise((resolve) => setTimeout(resolve, 5));
    server.destroy();
    for (const p of pending) await expect(p).rejects.toMatchObject({ code: 'PEER_CLOSED' });
    expect(await closed).toMatchObject({ code: 'PEER_CLOSED' });
    expect(errors.map((e) => e.code)).toEqual(['PEER_CLOSED']);
    expect(client.closed).toBe(true);
    await expect(client.request(Command.DeviceReset)).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(client.post(Command.DeviceReset)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('closes the fds of a message cut off by the peer dying mid-message', async () => {
    const [channel, raw] = rawPair({ receiveLimits: { maxMessageSize: 4096, maxFdsPerMessage: 1 } });
    const closed = new Promise<TransportError | undefined>((resolve) => channel.once('close', resolve));
    const memfd = createMemfd('cut-off');
    raw.sendmsg(
      [header({ msgId: 1, command: Command.DmaMap, msgSize: 48, type: 'command' }), new Uint8Array(5)],
      [memfd],
    );
    memfd.close();
    await new Promise((resolve) => setTimeout(resolve, 5));
    raw.close();
    const reason = await closed;
    expect(reason).toMatchObject({ code: 'PEER_CLOSED' });
    expect(reason?.message).toMatch(/middle of a message/);
  });

  it('close() fails outstanding requests with CLOSED, flushes queued writes, then emits close without error', async () => {
    const [a, b] = UnixSocket.pair();
    const channel = new Channel(a, { sendLimits: { maxMessageSize: 1 << 20, maxFdsPerMessage: 1 } });
    const payload = new Uint8Array(256 * 1024);
    const posted = [channel.post(Command.RegionWrite, payload), channel.post(Command.RegionWrite, payload)];
    const pending = channel.request(Command.DeviceReset);
    const closeEvent = new Promise<TransportError | undefined>((resolve) => channel.once('close', resolve));
    const closing = channel.close();
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(channel.request(Command.DeviceReset)).rejects.toMatchObject({ code: 'CLOSED' });
    const got = await readRaw(b, 2 * (16 + payload.length) + 16);
    await Promise.all(posted);
    await closing;
    expect(await closeEvent).toBeUndefined();
    expect(decodeRawHeader(got.subarray(2 * (16 + payload.length))).command).toBe(Command.DeviceReset);
    expect(b.recvmsg(new Uint8Array(1))?.bytes).toBe(0);
    await channel.close();
    b.close();
  });
});

describe('sendRaw', () => {
  it('sends exactly the given header fields', async () => {
    const [channel, raw] = rawPair();
    await channel.sendRaw({ msgId: 0xbeef, command: 0x1234, type: 'reply', error: true, errorNo: 22 });
    expect(decodeRawHeader(await readRaw(raw, 16))).toEqual({
      msgId: 0xbeef,
      command: 0x1234,
      msgSize: 16,
      flags: 0x21,
      errorNo: 22,
    });
    await expect(channel.sendRaw({ msgId: 0x10000, command: 1, type: 'command' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    raw.close();
  });
});
