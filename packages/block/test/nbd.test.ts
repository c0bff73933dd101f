import { readFileSync, writeFileSync } from 'node:fs';
import { makeTempDir } from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type BlockError, BlockNodeRegistry, isBlockError, NbdBackend, type NbdOptions } from '../src/index';
import {
  addressFor,
  nbdToolMissing,
  type RunningNbdServer,
  startNbdkit,
  startQemuNbd,
  type Transport,
} from './nbd-servers';

const nbdkitMissing = nbdToolMissing('nbdkit');
const qemuNbdMissing = nbdToolMissing('qemu-nbd');
if (nbdkitMissing) console.log(`skipping nbdkit tests: ${nbdkitMissing}`);
if (qemuNbdMissing) console.log(`skipping qemu-nbd tests: ${qemuNbdMissing}`);

const MiB = 1 << 20;

function tempDir() {
  const dir = makeTempDir('vfu-nbd-');
  onTestFinished(() => dir.remove());
  return dir;
}

async function open(options: NbdOptions): Promise<NbdBackend> {
  const b = await NbdBackend.open(options);
  onTestFinished(() => b.close());
  return b;
}

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

/** Random 4 KiB-aligned writes and reads, many in flight, checked against a model of the disk. */
async function randomIo(b: NbdBackend, size: number, count: number): Promise<void> {
  const model = new Uint8Array(size);
  await b.readv(0, model); // start from whatever the disk holds
  let seed = 1;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const writes: Promise<void>[] = [];
  const used = new Set<number>();
  for (let i = 0; i < count; i++) {
    const block = rand(size / 4096);
    if (used.has(block)) continue; // overlapping writes in flight have no defined order
    used.add(block);
    const data = pattern(4096, i);
    model.set(data, block * 4096);
    // Two segments per write, as a PRP list of two pages would give.
    writes.push(b.writev(block * 4096, [data.subarray(0, 1000), data.subarray(1000)]));
  }
  await Promise.all(writes);
  const reads = [...used].map(async (block) => {
    const out = [new Uint8Array(512), new Uint8Array(3584)];
    await b.readv(block * 4096, out);
    expect(Buffer.concat(out).equals(model.subarray(block * 4096, block * 4096 + 4096))).toBe(true);
  });
  await Promise.all(reads);
}

async function exerciseCommands(b: NbdBackend): Promise<void> {
  await randomIo(b, b.size, 64);
  await b.writev(0, pattern(8192, 9), { fua: true });
  await b.flush();
  await b.writeZeroes(4096, 4096);
  await b.writeZeroes(2 * MiB, MiB, { mayUnmap: true, fua: true });
  const out = new Uint8Array(8192);
  await b.readv(0, out);
  expect(Buffer.from(out.subarray(0, 4096)).equals(pattern(8192, 9).subarray(0, 4096))).toBe(true);
  expect(out.subarray(4096).every((x) => x === 0)).toBe(true);
  const zeroed = new Uint8Array(MiB).fill(1);
  await b.readv(2 * MiB, zeroed);
  expect(zeroed.every((x) => x === 0)).toBe(true);
  await b.discard(4 * MiB, MiB);
}

/** Kills the server with requests in flight: every one fails as disconnected/EIO, none hangs. */
async function killMidIo(b: NbdBackend, server: RunningNbdServer): Promise<void> {
  const inflight = Array.from({ length: 32 }, (_, i) =>
    i % 2 === 0 ? b.readv(i * 65536, new Uint8Array(65536)) : b.writev(i * 65536, pattern(65536, i)),
  );
  const outcomes = Promise.allSettled(inflight);
  await server.kill();
  for (const o of await outcomes) {
    // Requests answered before the kill succeed; the rest fail with a typed EIO.
    if (o.status === 'rejected') {
      expect(isBlockError(o.reason)).toBe(true);
      expect(o.reason).toMatchObject({
        code: 'disconnected',
        errnoName: 'EIO',
        errno: 5,
        context: { driver: 'nbd' },
      });
    }
  }
  // The close may reach us after the kill returns; a request meanwhile still fails, not hangs.
  await expect(b.readv(0, new Uint8Array(512))).rejects.toMatchObject({
    code: 'disconnected',
    errnoName: 'EIO',
  });
  expect(b.connected).toBe(false);
  await expect(b.flush()).rejects.toMatchObject({ errnoName: 'EIO' });
  await expect(b.reconnect()).rejects.toMatchObject({ code: 'open-failed' });
}

const transports: Transport[] = ['unix', 'tcp'];

describe.skipIf(nbdkitMissing !== undefined)('nbd driver against nbdkit (memory plugin)', () => {
  it.each(transports)(
    'negotiates NBD_OPT_GO with structured replies and does every command (%s)',
    async (t) => {
      const dir = tempDir();
      const address = await addressFor(t, dir.join('nbd.sock'));
      await startNbdkit(address, { size: '16M' });
      const b = await open({ server: address });
      expect(b.size).toBe(16 * MiB);
      expect(b.exportInfo).toMatchObject({ negotiatedWith: 'NBD_OPT_GO', structuredReplies: true });
      expect(b.capabilities).toMatchObject({ discard: true, writeCache: true, fua: true });
      await exerciseCommands(b);
    },
  );

  it.each(transports)(
    'fails in-flight I/O when the server dies, then reconnects once it is back (%s)',
    async (t) => {
      const dir = tempDir();
      const address = await addressFor(t, dir.join('nbd.sock'));
      const first = await startNbdkit(address, { size: '16M' });
      const b = await open({ server: address, queueDepth: 32 });
      await killMidIo(b, first);
      await startNbdkit(address, { size: '16M' });
      await b.reconnect();
      expect(b.connected).toBe(true);
      await randomIo(b, b.size, 32);
    },
  );

  it('reconnects by itself once the server is back', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    const first = await startNbdkit(address, { size: '4M' });
    const b = await open({ server: address });
    await first.kill();
    await expect(b.readv(0, new Uint8Array(512))).rejects.toMatchObject({ code: 'disconnected' });
    await startNbdkit(address, { size: '4M' });
    for (let i = 0; i < 200 && !b.connected; i++) await new Promise((r) => setTimeout(r, 50));
    expect(b.connected).toBe(true);
    await b.writev(0, pattern(4096, 2));
  });

  it('with reconnect-delay, requests made while the server is down complete once it returns', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    const first = await startNbdkit(address, { size: '4M' });
    const b = await open({ server: address, reconnectDelay: 60 });
    await first.kill();
    const out = new Uint8Array(4096).fill(9);
    const waiting = b.readv(8192, out);
    const write = b.writev(0, pattern(4096, 3), { fua: true });
    await new Promise((r) => setTimeout(r, 300));
    await startNbdkit(address, { size: '4M' });
    await Promise.all([waiting, write]);
    expect(out.every((x) => x === 0)).toBe(true); // a fresh memory export
    const back = new Uint8Array(4096);
    await b.readv(0, back);
    expect(Buffer.from(back).equals(pattern(4096, 3))).toBe(true);
  });

  it('with reconnect-delay, close ends the wait with a typed error', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    const first = await startNbdkit(address, { size: '4M' });
    const b = await NbdBackend.open({ server: address, reconnectDelay: 60 });
    await first.kill();
    const waiting = b.readv(0, new Uint8Array(512));
    await new Promise((r) => setTimeout(r, 100));
    await b.close();
    await expect(waiting).rejects.toMatchObject({ code: 'disconnected', errnoName: 'EIO' });
  });

  it('open-timeout keeps trying until the server is up', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    const opening = NbdBackend.open({ server: address, openTimeout: 15 });
    onTestFinished(async () => (await opening.catch(() => undefined))?.close());
    await new Promise((r) => setTimeout(r, 300));
    await startNbdkit(address, { size: '4M' });
    expect((await opening).size).toBe(4 * MiB);
  });

  it('falls back to NBD_OPT_EXPORT_NAME when the server is not fixed-newstyle', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    await startNbdkit(address, { flags: ['--mask-handshake=0'] });
    const b = await open({ server: address });
    expect(b.exportInfo).toMatchObject({ negotiatedWith: 'NBD_OPT_EXPORT_NAME', structuredReplies: false });
    await exerciseCommands(b);
  });

  it('reads simple replies when structured replies are not offered', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    await startNbdkit(address, { flags: ['--no-sr'] });
    const b = await open({ server: address });
    expect(b.exportInfo).toMatchObject({ negotiatedWith: 'NBD_OPT_GO', structuredReplies: false });
    await randomIo(b, b.size, 64);
  });

  it('maps server errors to errno: EIO on reads, ENOSPC on writes', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    const readFault = dir.join('read-fault');
    const writeFault = dir.join('write-fault');
    await startNbdkit(address, {
      flags: ['--filter=error'],
      params: [
        'error-pread=EIO',
        'error-pread-rate=100%',
        `error-pread-file=${readFault}`,
        'error-pwrite=ENOSPC',
        'error-pwrite-rate=100%',
        `error-pwrite-file=${writeFault}`,
      ],
    });
    const b = await open({ server: address });
    await b.writev(0, pattern(4096, 1));
    writeFileSync(readFault, '');
    writeFileSync(writeFault, '');
    await expect(b.readv(0, new Uint8Array(4096))).rejects.toMatchObject({
      code: 'io-failed',
      errnoName: 'EIO',
      context: { offset: 0, length: 4096 },
    });
    await expect(b.writev(8192, pattern(4096, 2))).rejects.toMatchObject({
      code: 'io-failed',
      errnoName: 'ENOSPC',
    });
    // The connection survives request errors.
    expect(b.connected).toBe(true);
  });
});

describe.skipIf(qemuNbdMissing !== undefined)('nbd driver against qemu-nbd (raw file)', () => {
  function image(dir: ReturnType<typeof tempDir>, size = 16 * MiB): string {
    const path = dir.join('disk.img');
    writeFileSync(path, Buffer.alloc(size));
    return path;
  }

  it.each(transports)('serves a named export with every command (%s)', async (t) => {
    const dir = tempDir();
    const address = await addressFor(t, dir.join('nbd.sock'));
    const file = image(dir);
    await startQemuNbd(address, file, { exportName: 'disk' });
    const b = await open({ server: address, export: 'disk' });
    expect(b.size).toBe(16 * MiB);
    expect(b.exportInfo.structuredReplies).toBe(true);
    await exerciseCommands(b);
    await b.writev(MiB, pattern(4096, 5), { fua: true });
    expect(
      readFileSync(file)
        .subarray(MiB, MiB + 4096)
        .equals(pattern(4096, 5)),
    ).toBe(true);
  });

  it('the data is still there after the server is killed and restarted', async () => {
    const dir = tempDir();
    const address = await addressFor('tcp', dir.join('nbd.sock'));
    const file = image(dir);
    const first = await startQemuNbd(address, file);
    const b = await open({ server: address, export: 'disk' });
    await b.writev(12 * MiB, pattern(65536, 3));
    await b.flush();
    await killMidIo(b, first);
    await startQemuNbd(address, file);
    await b.reconnect();
    const back = new Uint8Array(65536);
    await b.readv(12 * MiB, back);
    expect(Buffer.from(back).equals(pattern(65536, 3))).toBe(true);
  });

  it('close sends NBD_CMD_DISC: a single-client qemu-nbd exits cleanly', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    const server = await startQemuNbd(address, image(dir), { persistent: false });
    const b = await NbdBackend.open({ server: address, export: 'disk' });
    await b.writev(0, pattern(4096, 1));
    await b.close();
    expect(await server.exited()).toBe(0);
    await expect(b.readv(0, new Uint8Array(512))).rejects.toMatchObject({ code: 'closed' });
  });

  it('a read-only export needs read-only=on and then refuses writes with EROFS', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    await startQemuNbd(address, image(dir), { readOnly: true });
    await expect(NbdBackend.open({ server: address, export: 'disk' })).rejects.toMatchObject({
      code: 'open-failed',
      errnoName: 'EROFS',
      context: { option: 'read-only' },
    });
    const b = await open({ server: address, export: 'disk', readOnly: true });
    await b.readv(0, new Uint8Array(4096));
    await expect(b.writev(0, new Uint8Array(512))).rejects.toMatchObject({
      code: 'read-only',
      errnoName: 'EROFS',
    });
  });

  it('an unknown export or an absent server fails to open with a typed error', async () => {
    const dir = tempDir();
    const address = await addressFor('unix', dir.join('nbd.sock'));
    await startQemuNbd(address, image(dir));
    const err = (await NbdBackend.open({ server: address, export: 'nope' }).catch(
      (e: unknown) => e,
    )) as BlockError;
    expect(err).toMatchObject({ code: 'open-failed', errnoName: 'ENOENT' });
    expect(err.message).toContain("export 'nope' not found");
    await expect(
      NbdBackend.open({ server: { type: 'unix', path: dir.join('absent.sock') } }),
    ).rejects.toMatchObject({ code: 'open-failed', context: { option: 'server.path' } });
  });
});

describe.skipIf(nbdkitMissing !== undefined)('nbd nodes in a BlockNodeRegistry', () => {
  it('blockdev-add from a -blockdev string, reconnect after a server restart, blockdev-del', async () => {
    const dir = tempDir();
    const address = await addressFor('tcp', dir.join('unused'));
    if (address.type !== 'inet') throw new Error('unreachable');
    const first = await startNbdkit(address, { size: '8M' });
    const nodes = new BlockNodeRegistry();
    onTestFinished(() => nodes.closeAll());
    await nodes.add(
      `driver=nbd,node-name=remote,server.type=inet,server.host=${address.host},server.port=${address.port}`,
    );
    const disk = nodes.attach('remote', 'nvme0');
    expect(nodes.queryBlock()).toMatchObject([
      {
        qdev: 'nvme0',
        inserted: {
          drv: 'nbd',
          file: `nbd://127.0.0.1:${address.port}/`,
          image: { 'virtual-size': 8 * MiB },
        },
      },
    ]);
    await first.kill();
    await expect(disk.readv(0, new Uint8Array(512))).rejects.toMatchObject({ code: 'disconnected' });
    await startNbdkit(address, { size: '8M' });
    await nodes.reconnect('remote');
    await disk.writev(0, pattern(4096, 1));
    nodes.detach('remote', 'nvme0');
    await nodes.del('remote');
    await expect(nodes.reconnect('remote')).rejects.toMatchObject({ code: 'node-not-found' });
  });
});
