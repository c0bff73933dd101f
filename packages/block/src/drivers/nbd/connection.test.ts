import * as net from 'node:net';
import { makeTempDir } from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ByteQueue } from './byte-queue';
import { NbdConnection } from './connection';
import * as P from './protocol';

interface Request {
  type: number;
  flags: number;
  cookie: number;
  offset: number;
  length: number;
}

/**
 * A scripted NBD server: a correct fixed-newstyle handshake (structured replies on request),
 * then `onRequest` decides what bytes go back, so replies can be split, reordered or malformed.
 */
async function scriptedServer(
  onRequest: (r: Request, socket: net.Socket) => void,
  opts: { size?: number; structured?: boolean } = {},
): Promise<{ path: string }> {
  const dir = makeTempDir('vfu-nbdfake-');
  const path = dir.join('s.sock');
  const server = net.createServer((socket) => {
    const q = new ByteQueue();
    let phase: 'flags' | 'options' | 'transmission' = 'flags';
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      q.push(d);
      for (;;) {
        if (phase === 'flags') {
          if (q.length < 4) return;
          q.skip(4);
          phase = 'options';
        } else if (phase === 'options') {
          if (q.length < 16) return;
          const head = q.take(16);
          const v = new DataView(head.buffer);
          const option = v.getUint32(8);
          const len = v.getUint32(12);
          if (q.length < len) {
            // Put it back: wait for the whole option.
            const rest = q.take(q.length);
            q.push(head);
            q.push(rest);
            return;
          }
          q.skip(len);
          const reply = (type: number, data: Uint8Array = new Uint8Array(0)) => {
            const b = new Uint8Array(20 + data.length);
            const w = new DataView(b.buffer);
            w.setBigUint64(0, P.NBD_REP_MAGIC);
            w.setUint32(8, option);
            w.setUint32(12, type);
            w.setUint32(16, data.length);
            b.set(data, 20);
            socket.write(b);
          };
          if (option === P.NBD_OPT_STRUCTURED_REPLY) {
            reply(opts.structured === false ? P.NBD_REP_ERR_UNSUP : P.NBD_REP_ACK);
          } else if (option === P.NBD_OPT_GO) {
            const info = new Uint8Array(12);
            const w = new DataView(info.buffer);
            w.setUint16(0, P.NBD_INFO_EXPORT);
            w.setBigUint64(2, BigInt(opts.size ?? 1 << 20));
            w.setUint16(10, P.NBD_FLAG_HAS_FLAGS | P.NBD_FLAG_SEND_FLUSH);
            reply(P.NBD_REP_INFO, info);
            reply(P.NBD_REP_ACK);
            phase = 'transmission';
          } else {
            reply(P.NBD_REP_ERR_UNSUP);
          }
        } else {
          if (q.length < 28) return;
          const head = q.take(28);
          const v = new DataView(head.buffer);
          const r: Request = {
            flags: v.getUint16(4),
            type: v.getUint16(6),
            cookie: v.getUint32(12),
            offset: Number(v.getBigUint64(16)),
            length: v.getUint32(24),
          };
          if (r.type === P.NBD_CMD_WRITE) {
            if (q.length < r.length) {
              const rest = q.take(q.length);
              q.push(head);
              q.push(rest);
              return;
            }
            q.skip(r.length);
          }
          if (r.type === P.NBD_CMD_DISC) {
            socket.end();
            return;
          }
          onRequest(r, socket);
        }
      }
    });
    const hello = new Uint8Array(18);
    const w = new DataView(hello.buffer);
    w.setBigUint64(0, P.NBDMAGIC);
    w.setBigUint64(8, P.IHAVEOPT);
    w.setUint16(16, P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES);
    socket.write(hello);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  onTestFinished(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    dir.remove();
  });
  return { path };
}

function simpleReply(cookie: number, error = 0, data?: Uint8Array): Uint8Array {
  const b = new Uint8Array(16 + (data?.length ?? 0));
  const v = new DataView(b.buffer);
  v.setUint32(0, P.NBD_SIMPLE_REPLY_MAGIC);
  v.setUint32(4, error);
  v.setUint32(12, cookie);
  if (data) b.set(data, 16);
  return b;
}

function chunk(cookie: number, type: number, done: boolean, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(20 + payload.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, P.NBD_STRUCTURED_REPLY_MAGIC);
  v.setUint16(4, done ? P.NBD_REPLY_FLAG_DONE : 0);
  v.setUint16(6, type);
  v.setUint32(12, cookie);
  v.setUint32(16, payload.length);
  b.set(payload, 20);
  return b;
}

function offsetData(offset: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  new DataView(b.buffer).setBigUint64(0, BigInt(offset));
  b.set(data, 8);
  return b;
}

async function connect(path: string): Promise<NbdConnection> {
  const c = await NbdConnection.connect({ type: 'unix', path }, '');
  onTestFinished(() => c.destroy());
  return c;
}

/** Sends `bytes` one byte per write, so every header and payload straddles reads. */
function dribble(socket: net.Socket, bytes: Uint8Array): void {
  for (const b of bytes) socket.write(Uint8Array.of(b));
}

describe('NbdConnection replies', () => {
  it('matches replies that come back out of order, split into single bytes', async () => {
    const held: Array<{ r: Request; socket: net.Socket }> = [];
    const { path } = await scriptedServer((r, socket) => {
      held.push({ r, socket });
      if (held.length < 2) return;
      // Answer the second read first, as chunks with a hole; then the first, one chunk.
      const [a, b] = held as [{ r: Request; socket: net.Socket }, { r: Request; socket: net.Socket }];
      dribble(
        socket,
        chunk(
          b.r.cookie,
          P.NBD_REPLY_TYPE_OFFSET_DATA,
          false,
          offsetData(b.r.offset + 2, Uint8Array.of(7, 7)),
        ),
      );
      const hole = new Uint8Array(12);
      new DataView(hole.buffer).setBigUint64(0, BigInt(b.r.offset));
      new DataView(hole.buffer).setUint32(8, 2);
      dribble(socket, chunk(b.r.cookie, P.NBD_REPLY_TYPE_OFFSET_HOLE, true, hole));
      dribble(
        socket,
        chunk(a.r.cookie, P.NBD_REPLY_TYPE_OFFSET_DATA, true, offsetData(a.r.offset, Uint8Array.of(1, 2, 3))),
      );
    });
    const c = await connect(path);
    const first = new Uint8Array(3);
    const second = [new Uint8Array(1).fill(9), new Uint8Array(3).fill(9)];
    await Promise.all([
      c.request(P.NBD_CMD_READ, 0, 100, 3, first),
      c.request(P.NBD_CMD_READ, 0, 200, 4, second),
    ]);
    expect([...first]).toEqual([1, 2, 3]);
    expect([...second[0]!, ...second[1]!]).toEqual([0, 0, 7, 7]);
  });

  it('reports a structured error chunk with its errno and message, and keeps the connection', async () => {
    const { path } = await scriptedServer((r, socket) => {
      if (r.type === P.NBD_CMD_FLUSH) return void socket.write(simpleReply(r.cookie));
      const text = new TextEncoder().encode('disk on fire');
      const e = new Uint8Array(6 + text.length);
      new DataView(e.buffer).setUint32(0, 28);
      new DataView(e.buffer).setUint16(4, text.length);
      e.set(text, 6);
      socket.write(chunk(r.cookie, P.NBD_REPLY_TYPE_ERROR, true, e));
    });
    const c = await connect(path);
    await expect(c.request(P.NBD_CMD_READ, 0, 0, 8, new Uint8Array(8))).rejects.toMatchObject({
      code: 'io-failed',
      errnoName: 'ENOSPC',
      message: expect.stringContaining('disk on fire'),
    });
    await c.request(P.NBD_CMD_FLUSH, 0, 0, 0);
  });

  it('a simple reply error maps to errno (unknown values count as EINVAL)', async () => {
    const { path } = await scriptedServer((r, socket) =>
      socket.write(simpleReply(r.cookie, r.offset === 0 ? 5 : 4242)),
    );
    const c = await connect(path);
    await expect(c.request(P.NBD_CMD_WRITE, 0, 0, 1, Uint8Array.of(1))).rejects.toMatchObject({
      errnoName: 'EIO',
    });
    await expect(c.request(P.NBD_CMD_WRITE, 0, 512, 1, Uint8Array.of(1))).rejects.toMatchObject({
      errnoName: 'EINVAL',
    });
  });

  it.each([
    [
      'a bad reply magic',
      (r: Request) => Uint8Array.of(0xde, 0xad, 0xbe, 0xef, ...simpleReply(r.cookie).subarray(4)),
    ],
    ['a reply to a cookie never sent', (r: Request) => simpleReply(r.cookie + 1000)],
    [
      'OFFSET_DATA outside the read',
      (r: Request) =>
        chunk(r.cookie, P.NBD_REPLY_TYPE_OFFSET_DATA, true, offsetData(r.offset + 6, Uint8Array.of(1, 2, 3))),
    ],
  ])('%s is a protocol error that fails every request in flight', async (_, reply) => {
    const { path } = await scriptedServer((r, socket) => {
      if (r.offset === 0) socket.write(reply(r));
    });
    const c = await connect(path);
    const bystander = c.request(P.NBD_CMD_READ, 0, 4096, 8, new Uint8Array(8));
    await expect(c.request(P.NBD_CMD_READ, 0, 0, 8, new Uint8Array(8))).rejects.toMatchObject({
      code: 'protocol-error',
    });
    await expect(bystander).rejects.toMatchObject({ code: 'protocol-error', errnoName: 'EIO' });
    expect(c.dead).toBe(true);
  });

  it('the server closing mid-reply fails the request being received', async () => {
    const { path } = await scriptedServer((r, socket) => {
      const head = chunk(
        r.cookie,
        P.NBD_REPLY_TYPE_OFFSET_DATA,
        true,
        offsetData(r.offset, new Uint8Array(r.length)),
      );
      socket.end(head.subarray(0, head.length - 100));
    });
    const c = await connect(path);
    await expect(c.request(P.NBD_CMD_READ, 0, 0, 4096, new Uint8Array(4096))).rejects.toMatchObject({
      code: 'disconnected',
      errnoName: 'EIO',
    });
  });

  it('negotiates without structured replies when the server refuses them', async () => {
    const { path } = await scriptedServer(
      (r, socket) => socket.write(simpleReply(r.cookie, 0, new Uint8Array(r.length).fill(4))),
      {
        structured: false,
        size: 4096,
      },
    );
    const c = await connect(path);
    expect(c.info).toMatchObject({ size: 4096, structuredReplies: false, negotiatedWith: 'NBD_OPT_GO' });
    const out = [new Uint8Array(3), new Uint8Array(5)];
    await c.request(P.NBD_CMD_READ, 0, 0, 8, out);
    expect([...out[0]!, ...out[1]!]).toEqual([4, 4, 4, 4, 4, 4, 4, 4]);
  });
});
