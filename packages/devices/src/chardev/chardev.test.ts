import { once } from 'node:events';
import { existsSync, linkSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { expectNoFdLeaks, makeTempDir } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { CHARDEV_INPUT_HIGH_WATER, type CharFrontend } from './char-backend';
import { FileCharBackend } from './file';
import { MemoryCharBackend, NullCharBackend } from './memory';
import { SOCKET_CHARDEV_MAX_WAITING_PEERS, SocketCharBackend } from './socket';
import { createCharBackend, parseChardevSpec } from './spec';
import { StdioCharBackend } from './stdio';

/** A frontend with a settable amount of room that records what it got. */
class TestFrontend implements CharFrontend {
  room = Number.POSITIVE_INFINITY;
  received: number[] = [];
  breaks = 0;
  canReceive(): number {
    return this.room;
  }
  receive(data: Uint8Array): void {
    this.received.push(...data);
    this.room -= data.length;
  }
  receiveBreak(): void {
    this.breaks++;
  }
}

// Registered before the cleanup hook, so it checks after the cleanups ran (hooks run as a stack).
expectNoFdLeaks({ beforeEach, afterEach });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function tempDir(): Promise<string> {
  const dir = await makeTempDir('vfu-chardev-');
  cleanups.push(() => dir.remove());
  return dir.path;
}

describe('memory backend', () => {
  test('input is delivered only as far as the frontend has room, the rest on acceptInput', () => {
    const chardev = new MemoryCharBackend();
    const fe = new TestFrontend();
    fe.room = 2;
    chardev.attach(fe);
    chardev.input('hello');
    expect(fe.received).toEqual([0x68, 0x65]);
    expect(chardev.queuedInput).toBe(3);
    fe.room = 10;
    chardev.acceptInput();
    expect(String.fromCharCode(...fe.received)).toBe('hello');
  });

  test('input queued before a frontend attaches is delivered on attach', () => {
    const chardev = new MemoryCharBackend();
    chardev.input(Uint8Array.of(1, 2));
    const fe = new TestFrontend();
    chardev.attach(fe);
    expect(fe.received).toEqual([1, 2]);
  });

  test('output is kept and reported to listeners', () => {
    const chardev = new MemoryCharBackend();
    const seen: number[] = [];
    chardev.onOutput((d) => seen.push(...d));
    chardev.write(Uint8Array.of(0x4f, 0x4b));
    expect(seen).toEqual([0x4f, 0x4b]);
    expect(chardev.takeOutputText()).toBe('OK');
    expect(chardev.takeOutput()).toHaveLength(0);
  });

  test('a break reaches the frontend', () => {
    const chardev = new MemoryCharBackend();
    const fe = new TestFrontend();
    chardev.attach(fe);
    chardev.sendBreak();
    expect(fe.breaks).toBe(1);
  });

  test('the null backend drops output and gives no input', () => {
    const chardev = new NullCharBackend();
    const fe = new TestFrontend();
    chardev.attach(fe);
    chardev.write(Uint8Array.of(1));
    expect(fe.received).toEqual([]);
  });
});

describe('file backend', () => {
  test('writes go to the file, truncated at open unless append', async () => {
    const path = join(await tempDir(), 'out.log');
    writeFileSync(path, 'old ');
    const truncating = new FileCharBackend(path);
    truncating.write(new TextEncoder().encode('one'));
    await truncating.close();
    expect(readFileSync(path, 'utf8')).toBe('one');
    const appending = new FileCharBackend(path, { append: true });
    appending.write(new TextEncoder().encode(' two'));
    await appending.close();
    appending.write(new TextEncoder().encode(' lost'));
    expect(readFileSync(path, 'utf8')).toBe('one two');
  });

  test('an unopenable path throws DeviceError chardev-failed', async () => {
    const path = join(await tempDir(), 'missing', 'out.log');
    expect(() => new FileCharBackend(path)).toThrowError(expect.objectContaining({ code: 'chardev-failed' }));
  });
});

describe('stdio backend', () => {
  test('output goes to the output stream and input is paused above the high-water mark', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const chardev = new StdioCharBackend({ input, output });
    cleanups.push(() => chardev.close());
    const fe = new TestFrontend();
    fe.room = 0;
    chardev.attach(fe);
    chardev.write(Uint8Array.of(0x41));
    expect(output.read()).toEqual(Buffer.from('A'));
    input.write(Buffer.alloc(CHARDEV_INPUT_HIGH_WATER + 1));
    await new Promise((r) => setImmediate(r));
    expect(input.isPaused()).toBe(true);
    fe.room = Number.POSITIVE_INFINITY;
    chardev.acceptInput();
    expect(input.isPaused()).toBe(false);
    expect(fe.received).toHaveLength(CHARDEV_INPUT_HIGH_WATER + 1);
  });

  test('a TTY is put in raw mode while open and restored on close', async () => {
    const modes: boolean[] = [];
    const input = Object.assign(new PassThrough(), {
      isTTY: true,
      setRawMode: (raw: boolean) => modes.push(raw),
    });
    const chardev = new StdioCharBackend({ input, output: new PassThrough() });
    await chardev.close();
    expect(modes).toEqual([true, false]);
  });

  test('in raw mode Ctrl-C becomes SIGINT for the process instead of guest input', async () => {
    const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => {} });
    const chardev = new StdioCharBackend({ input, output: new PassThrough() });
    cleanups.push(() => chardev.close());
    const fe = new TestFrontend();
    chardev.attach(fe);
    const signalled = new Promise<void>((r) => process.once('SIGINT', () => r()));
    input.write(Buffer.from([0x61, 0x03, 0x62]));
    await signalled;
    expect(fe.received).toEqual([0x61, 0x62]);
  });

  test('with signals off Ctrl-C reaches the guest', async () => {
    const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => {} });
    const chardev = new StdioCharBackend({ input, output: new PassThrough(), signals: false });
    cleanups.push(() => chardev.close());
    const fe = new TestFrontend();
    chardev.attach(fe);
    input.write(Buffer.from([0x03]));
    await new Promise((r) => setImmediate(r));
    expect(fe.received).toEqual([0x03]);
  });

  test('close stops reading input', async () => {
    const input = new PassThrough();
    const chardev = new StdioCharBackend({ input, output: new PassThrough() });
    const fe = new TestFrontend();
    chardev.attach(fe);
    await chardev.close();
    input.write('x');
    await new Promise((r) => setImmediate(r));
    expect(fe.received).toEqual([]);
  });
});

describe('socket backend', () => {
  /** Connects to `path`; destroyed when the test ends. Errors from a hang-up end in 'close'. */
  async function connect(path: string): Promise<Socket> {
    const socket = createConnection(path);
    socket.on('error', () => {});
    await once(socket, 'connect');
    cleanups.push(() => {
      socket.destroy();
    });
    return socket;
  }

  /** Resolves once `condition` holds, checking every few milliseconds; fails after 5 s. */
  async function until(condition: () => boolean): Promise<void> {
    for (let i = 0; !condition(); i++) {
      if (i === 1000) throw new Error(`never came true: ${condition}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  test('a peer exchanges bytes with the frontend', async () => {
    const path = join(await tempDir(), 'serial.sock');
    const chardev = await SocketCharBackend.listen(path);
    cleanups.push(() => chardev.close());
    const fe = new TestFrontend();
    chardev.attach(fe);
    const connected = new Promise<boolean>((r) => chardev.onConnectionChange(r));
    const peer = await connect(path);
    expect(await connected).toBe(true);
    peer.write('ping');
    await until(() => fe.received.length >= 4);
    expect(String.fromCharCode(...fe.received)).toBe('ping');
    const reply = once(peer, 'data');
    chardev.write(new TextEncoder().encode('pong'));
    expect(String((await reply)[0])).toBe('pong');
  });

  test('a peer connecting while another is attached waits: it gets no data and is not closed', async () => {
    const path = join(await tempDir(), 'serial.sock');
    const chardev = await SocketCharBackend.listen(path);
    cleanups.push(() => chardev.close());
    const fe = new TestFrontend();
    chardev.attach(fe);
    const first = await connect(path);
    const second = await connect(path);
    const secondGot: Buffer[] = [];
    second.on('data', (b: Buffer) => secondGot.push(b));
    await until(() => chardev.waitingPeers === 1);
    expect(chardev.connected).toBe(true);
    second.write('queued');
    const firstGot = once(first, 'data');
    chardev.write(new TextEncoder().encode('to the attached peer'));
    expect(String((await firstGot)[0])).toBe('to the attached peer');
    // A round trip through the attached peer: the waiting one's bytes had time to arrive too.
    first.write('x');
    await until(() => fe.received.length === 1);
    expect(String.fromCharCode(...fe.received)).toBe('x');
    expect(secondGot).toEqual([]);
    expect(second.destroyed).toBe(false);
    expect(second.readyState).toBe('open');
    expect(chardev.waitingPeers).toBe(1);
  });

  test('when the attached peer leaves, the waiting one takes the line in both directions', async () => {
    const path = join(await tempDir(), 'serial.sock');
    const chardev = await SocketCharBackend.listen(path);
    cleanups.push(() => chardev.close());
    const fe = new TestFrontend();
    chardev.attach(fe);
    const changes: boolean[] = [];
    chardev.onConnectionChange((c) => changes.push(c));
    const first = await connect(path);
    const second = await connect(path);
    await until(() => chardev.waitingPeers === 1);
    second.write('sent while waiting, ');
    first.destroy();
    await until(() => changes.length === 3);
    expect(changes).toEqual([true, false, true]);
    expect(chardev.connected).toBe(true);
    expect(chardev.waitingPeers).toBe(0);
    const reply = once(second, 'data');
    chardev.write(new TextEncoder().encode('next'));
    expect(String((await reply)[0])).toBe('next');
    second.write('then more');
    const text = 'sent while waiting, then more';
    await until(() => fe.received.length >= text.length);
    expect(String.fromCharCode(...fe.received)).toBe(text);
  });

  test('a waiting peer that hung up before its turn is passed over for the next one', async () => {
    const path = join(await tempDir(), 'serial.sock');
    const chardev = await SocketCharBackend.listen(path);
    cleanups.push(() => chardev.close());
    const changes: boolean[] = [];
    chardev.onConnectionChange((c) => changes.push(c));
    const first = await connect(path);
    const quitter = await connect(path);
    const third = await connect(path);
    await until(() => chardev.waitingPeers === 2);
    quitter.destroy();
    first.destroy();
    await until(() => changes.length === 5);
    expect(changes).toEqual([true, false, true, false, true]);
    const reply = once(third, 'data');
    chardev.write(Uint8Array.of(0x33));
    expect([...(await reply)[0]]).toEqual([0x33]);
  });

  test(`connections beyond ${SOCKET_CHARDEV_MAX_WAITING_PEERS} waiting ones are closed`, async () => {
    const path = join(await tempDir(), 'serial.sock');
    const chardev = await SocketCharBackend.listen(path);
    cleanups.push(() => chardev.close());
    await connect(path);
    const waiting: Socket[] = [];
    for (let i = 0; i < SOCKET_CHARDEV_MAX_WAITING_PEERS; i++) waiting.push(await connect(path));
    await until(() => chardev.waitingPeers === SOCKET_CHARDEV_MAX_WAITING_PEERS);
    const extra = await connect(path);
    await once(extra, 'close');
    expect(chardev.waitingPeers).toBe(SOCKET_CHARDEV_MAX_WAITING_PEERS);
    expect(waiting.every((s) => !s.destroyed)).toBe(true);
  });

  test('close with a peer attached and one waiting hangs up on both and leaves no descriptor', async () => {
    const path = join(await tempDir(), 'serial.sock');
    const chardev = await SocketCharBackend.listen(path);
    const first = await connect(path);
    const second = await connect(path);
    await until(() => chardev.waitingPeers === 1);
    await chardev.close();
    expect(chardev.connected).toBe(false);
    expect(chardev.waitingPeers).toBe(0);
    expect(existsSync(path)).toBe(false);
    // Both see the end of the line; the test's descriptor check then finds nothing of the backend's.
    await Promise.all([once(first, 'close'), once(second, 'close')]);
  });

  test('output without a peer is dropped; close removes the socket file', async () => {
    const path = join(await tempDir(), 'serial.sock');
    const chardev = await SocketCharBackend.listen(path);
    chardev.write(Uint8Array.of(1));
    expect(existsSync(path)).toBe(true);
    await chardev.close();
    expect(existsSync(path)).toBe(false);
  });

  test('listening where a regular file exists fails with chardev-failed', async () => {
    const path = join(await tempDir(), 'not-a-socket');
    writeFileSync(path, '');
    await expect(SocketCharBackend.listen(path)).rejects.toMatchObject({ code: 'chardev-failed' });
  });

  test('a socket somebody listens on is not taken over', async () => {
    const path = join(await tempDir(), 'serial.sock');
    const first = await SocketCharBackend.listen(path);
    cleanups.push(() => first.close());
    await expect(SocketCharBackend.listen(path)).rejects.toMatchObject({ code: 'chardev-failed' });
    expect(existsSync(path)).toBe(true);
  });

  test('a stale socket file (no listener) is replaced', async () => {
    const dir = await tempDir();
    const path = join(dir, 'serial.sock');
    const live = join(dir, 'live.sock');
    const first = await SocketCharBackend.listen(live);
    linkSync(live, path); // a second name for the socket file, left behind when the server closes
    await first.close();
    expect(existsSync(path)).toBe(true);
    const second = await SocketCharBackend.listen(path);
    cleanups.push(() => second.close());
    const connected = new Promise<boolean>((r) => second.onConnectionChange(r));
    await connect(path);
    expect(await connected).toBe(true);
  });
});

describe('chardev property', () => {
  test.each([
    ['null', { kind: 'null' }],
    ['memory', { kind: 'memory' }],
    ['stdio', { kind: 'stdio' }],
    ['file:/tmp/x.log', { kind: 'file', path: '/tmp/x.log', append: false }],
    ['file:/tmp/x.log,append', { kind: 'file', path: '/tmp/x.log', append: true }],
    ['socket:/run/vfu/serial.sock', { kind: 'socket', path: '/run/vfu/serial.sock' }],
    ['unix:/run/vfu/serial.sock', { kind: 'socket', path: '/run/vfu/serial.sock' }],
    ['c0', { kind: 'id', id: 'c0' }],
  ])('%s parses', (value, spec) => {
    expect(parseChardevSpec(value)).toEqual(spec);
  });

  test.each(['', 'file:', 'socket:', 'tcp:localhost:4444', 'bad id!'])('%j is rejected', (value) => {
    expect(() => parseChardevSpec(value)).toThrowError(expect.objectContaining({ code: 'invalid-property' }));
  });

  test('an id resolves through the application table; an unknown id is an error', () => {
    const mine = new MemoryCharBackend();
    expect(createCharBackend({ kind: 'id', id: 'c0' }, (id) => (id === 'c0' ? mine : undefined))).toBe(mine);
    expect(() => createCharBackend({ kind: 'id', id: 'c1' }, () => undefined)).toThrowError(
      expect.objectContaining({ code: 'invalid-property' }),
    );
  });

  test('memory and null specs create their backends', () => {
    expect(createCharBackend(parseChardevSpec('memory')).kind).toBe('memory');
    expect(createCharBackend(parseChardevSpec('null')).kind).toBe('null');
  });
});
