/**
 * Malformed bytes on the wire against the built `vfu-server` process: a raw client writes what no
 * well-behaved VMM would (a short header, bad flags, an oversize msg_size, an unknown command, an
 * fd where none belongs, garbage after a valid message) to one endpoint, and the test checks the
 * exact reply, that another endpoint of the same process keeps serving all along, and that the
 * process survives it all.
 */
import { closeSync, openSync, readdirSync } from 'node:fs';
import { connect as connectUnix, type Socket } from 'node:net';
import { Command, Errno } from '@vfu/protocol';
import { type Channel, connect as connectChannel, isTransportError } from '@vfu/transport';
import { expect, it, onTestFinished } from 'vitest';
import { call, startServer, tempDir } from './support';

/** A reply header as the raw client reads it, with the payload behind it. */
interface WireReply {
  msgId: number;
  command: number;
  msgSize: number;
  flags: number;
  errorNo: number;
  payload: Buffer;
}

const REPLY = 0x1;
const ERROR_REPLY = 0x21;
const GET_INFO = Buffer.from([16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const VERSION_0_2 = Buffer.from([0, 0, 2, 0]);

/** A 16-byte header with the given fields (msg_size defaults to header + payload). */
function header(f: { msgId: number; command: number; flags?: number; msgSize?: number }, payloadSize = 0) {
  const h = Buffer.alloc(16);
  h.writeUInt16LE(f.msgId, 0);
  h.writeUInt16LE(f.command, 2);
  h.writeUInt32LE(f.msgSize ?? 16 + payloadSize, 4);
  h.writeUInt32LE(f.flags ?? 0, 8);
  return h;
}

function message(f: { msgId: number; command: number; flags?: number }, payload: Buffer = Buffer.alloc(0)) {
  return Buffer.concat([header(f, payload.length), payload]);
}

/** A client that writes raw bytes and parses whatever comes back into reply headers. */
class RawClient {
  readonly replies: WireReply[] = [];
  ended = false;
  #buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 16) {
        const msgSize = this.#buffer.readUInt32LE(4);
        if (msgSize < 16 || this.#buffer.length < msgSize) break;
        this.replies.push({
          msgId: this.#buffer.readUInt16LE(0),
          command: this.#buffer.readUInt16LE(2),
          msgSize,
          flags: this.#buffer.readUInt32LE(8),
          errorNo: this.#buffer.readUInt32LE(12),
          payload: this.#buffer.subarray(16, msgSize),
        });
        this.#buffer = this.#buffer.subarray(msgSize);
      }
      this.#wake?.();
    });
    const end = () => {
      this.ended = true;
      this.#wake?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  static async connect(path: string): Promise<RawClient> {
    const socket = connectUnix(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    onTestFinished(() => void socket.destroy());
    return client;
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (e) => (e ? reject(e) : resolve())));
  }

  /** Waits for `n` replies in total, the end of the stream, or `timeoutMs`. */
  async waitReplies(n: number, timeoutMs = 5000): Promise<WireReply[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length < n && !this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 20);
      });
    }
    return this.replies;
  }

  /** Waits until the server closes the connection. */
  async waitEnd(timeoutMs = 5000): Promise<boolean> {
    await this.waitReplies(Number.POSITIVE_INFINITY, timeoutMs);
    return this.ended;
  }

  /** VERSION 0.2 as the first message; resolves once it is answered. */
  async negotiate(): Promise<void> {
    await this.write(message({ msgId: 1, command: Command.Version }, VERSION_0_2));
    const [reply] = await this.waitReplies(1);
    expect(reply).toMatchObject({ msgId: 1, command: Command.Version, flags: REPLY });
  }
}

/** The well-behaved endpoint: a negotiated channel that must answer DEVICE_GET_INFO at any time. */
async function witness(path: string): Promise<Channel> {
  const channel = await connectChannel(path);
  onTestFinished(() => channel.close());
  await call(channel, Command.Version, { major: 0, minor: 2, capabilities: { maxMsgFds: 8 } });
  return channel;
}

async function stillServes(channel: Channel): Promise<void> {
  expect((await call(channel, Command.DeviceGetInfo, { argsz: 16 })).numRegions).toBe(9);
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

it('malformed messages get their exact replies; the other endpoint and the process keep going', async () => {
  const dir = tempDir();
  const target = dir.join('target.sock');
  const other = dir.join('other.sock');
  const server = await startServer([
    '-device',
    `edu,id=e0,socket=${target}`,
    '-device',
    `pci-testdev,id=t1,socket=${other}`,
  ]);
  expect(server.endpoints().map((e) => e.socketPath)).toEqual([target, other]);
  const good = await witness(other);
  await stillServes(good);

  // A header cut short, then the client goes away: no reply, nothing else disturbed.
  const cut = await RawClient.connect(target);
  await cut.write(header({ msgId: 2, command: Command.DeviceGetInfo }, 16).subarray(0, 10));
  cut.socket.end();
  expect(await cut.waitEnd()).toBe(true);
  expect(cut.replies).toEqual([]);
  await stillServes(good);

  // A msg_size below the header size: the stream is lost, so the server hangs up without a reply.
  const small = await RawClient.connect(target);
  await small.negotiate();
  await small.write(header({ msgId: 3, command: Command.DeviceGetInfo, msgSize: 8 }));
  expect(await small.waitEnd()).toBe(true);
  expect(small.replies).toHaveLength(1);
  await stillServes(good);

  // The rest on one connection, each followed by a good request that must be answered in order.
  const raw = await RawClient.connect(target);
  await raw.negotiate();
  const cases: [string, Buffer, number][] = [
    [
      'reserved flag bits',
      message({ msgId: 10, command: Command.DeviceGetInfo, flags: 0x100 }, GET_INFO),
      Errno.EINVAL,
    ],
    [
      'the Error flag in a command',
      message({ msgId: 11, command: Command.DeviceGetInfo, flags: 0x20 }, GET_INFO),
      Errno.EINVAL,
    ],
    ['an unknown command', message({ msgId: 12, command: 0x63 }, Buffer.alloc(16)), Errno.EINVAL],
    [
      'an oversize msg_size (1 MiB of data above the limit)',
      message({ msgId: 13, command: Command.RegionWrite }, Buffer.alloc(16 + (1 << 20) + 64)),
      Errno.E2BIG,
    ],
  ];
  let expected = 1;
  for (const [name, bytes, errno] of cases) {
    const msgId = bytes.readUInt16LE(0);
    await raw.write(bytes);
    await raw.write(message({ msgId: msgId + 100, command: Command.DeviceGetInfo }, GET_INFO));
    expected += 2;
    const replies = await raw.waitReplies(expected);
    expect(replies.at(-2), name).toMatchObject({
      msgId,
      command: bytes.readUInt16LE(2),
      msgSize: 16,
      flags: ERROR_REPLY,
      errorNo: errno,
    });
    expect(replies.at(-1), name).toMatchObject({ msgId: msgId + 100, flags: REPLY, msgSize: 32 });
    await stillServes(good);
  }
  // One client per endpoint: this one leaves before the next connects.
  raw.socket.end();
  expect(await raw.waitEnd()).toBe(true);

  // An fd on a command that takes none: EINVAL, and the server does not keep it.
  const withFd = await witness(target);
  const fdsBefore = openFds(server.pid);
  const fd = openSync('/dev/null', 'r');
  onTestFinished(() => closeSync(fd));
  let failure: unknown;
  try {
    await withFd.request(Command.RegionRead, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0]), {
      fds: [fd],
    });
  } catch (e) {
    failure = e;
  }
  expect(isTransportError(failure) && failure.code === 'ERROR_REPLY' && failure.errno).toBe(Errno.EINVAL);
  expect(openFds(server.pid)).toBe(fdsBefore);
  await stillServes(withFd);
  await withFd.close();
  await stillServes(good);

  // Garbage right behind a valid message: the valid one is answered, then the server hangs up.
  const tail = await RawClient.connect(target);
  await tail.negotiate();
  await tail.write(
    Buffer.concat([
      message({ msgId: 20, command: Command.DeviceGetInfo }, GET_INFO),
      Buffer.from([0xde, 0xad, 0xbe, 0xef, 4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
    ]),
  );
  expect(await tail.waitEnd()).toBe(true);
  expect(tail.replies.slice(1)).toMatchObject([{ msgId: 20, flags: REPLY, msgSize: 32 }]);
  await stillServes(good);

  // After all of it the target endpoint takes a new client, and the process is still there.
  const after = await witness(target);
  await stillServes(after);
  expect(server.child.exitCode).toBeNull();
  expect(server.child.signalCode).toBeNull();
  expect(() => process.kill(server.pid, 0)).not.toThrow();
});
