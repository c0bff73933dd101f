import { once } from 'node:events';
import { existsSync, linkSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { makeTempDir } from '@vfu/test-utils';
import { afterEach, describe, expect, test } from 'vitest';
import { CHARDEV_INPUT_HIGH_WATER, type CharFrontend } from './char-backend';
import { FileCharBackend } from './file';
import { MemoryCharBackend, NullCharBackend } from './memory';
import { SocketCharBackend } from './socket';
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
  async function connect(path: string): Promise<Socket> {
    const socket = createConnection(path);
    await once(socket, 'connect');
    cleanups.push(() => {
      socket.destroy();
    });
    return socket;
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
    await new Promise<void>((r) => {
      const poll = () => (fe.received.length >= 4 ? r() : setTimeout(poll, 5));
      poll();
    });
    expect(String.fromCharCode(...fe.received)).toBe('ping');
    const reply = once(peer, 'data');
    chardev.write(new TextEncoder().encode('pong'));
    expect(String((await reply)[0])).toBe('pong');
  });

  test('a second peer is refused while one is connected', async () => {
    const path = join(await tempDir(), 'serial.sock');
    const chardev = await SocketCharBackend.listen(path);
    cleanups.push(() => chardev.close());
    await connect(path);
    const second = createConnection(path);
    cleanups.push(() => {
      second.destroy();
    });
    await once(second, 'close');
    expect(chardev.connected).toBe(true);
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
