import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VfioUserClient } from '@vfu/client';
import { afterEach, describe, expect, it } from 'vitest';
import { isNvmeDriverError, NvmeDriver } from '../src/index';
import { type NvmeServer, startNvmeServer, tempDir } from './server';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
});

function scratch(): string {
  const t = tempDir();
  cleanups.push(async () => t.remove());
  return t.dir;
}

async function serve(drive: string, props: string[] = [], dir?: string): Promise<NvmeServer> {
  const server = await startNvmeServer(drive, props, dir);
  cleanups.push(() => server.stop());
  return server;
}

async function attach(
  server: NvmeServer,
  options: Parameters<typeof NvmeDriver.attach>[1] = {},
): Promise<NvmeDriver> {
  const client = await VfioUserClient.connect(server.socketPath);
  cleanups.push(() => client.close());
  const driver = await NvmeDriver.attach(client, options);
  cleanups.push(() => driver.close());
  return driver;
}

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed * 13 + (i >> 9)) & 0xff;
  return out;
}

describe('NVMe host driver over vfio-user', () => {
  it('identifies the controller and its namespace', async () => {
    const server = await serve(`null:${64 << 20}`);
    const driver = await attach(server);
    expect(driver.controller).toMatchObject({
      vendorId: 0x1b36,
      subsystemVendorId: 0x1af4,
      serial: 'deadbeef',
      model: 'QEMU NVMe Ctrl',
      version: '1.4.0',
      maxTransfer: 512 * 1024,
      subsystemNqn: 'nqn.2019-08.org.qemu:deadbeef',
    });
    expect(driver.namespaces).toEqual([{ nsid: 1, blocks: 131072, blockSize: 512 }]);
  });

  it.each([
    ['mmap', false],
    ['message', true],
  ])('writes and reads back data at queue depth 32 over 2 queues (%s DMA)', async (_name, viaMessages) => {
    const dir = scratch();
    const image = join(dir, 'disk.img');
    writeFileSync(image, new Uint8Array(8 << 20));
    const fileServer = await serve(`file:${image}`, [], dir);
    const driver = await attach(fileServer, { ioQueues: 2, queueDepth: 64, viaMessages });
    expect(driver.ioQueues).toBe(2);
    const writes = [];
    for (let i = 0; i < 32; i++) writes.push(driver.write(i * 64, pattern(32 * 1024, i)));
    await Promise.all(writes);
    await driver.flush();
    const reads = await Promise.all([...Array(32).keys()].map((i) => driver.read(i * 64, 64)));
    for (const [i, data] of reads.entries()) expect(Buffer.compare(data, pattern(32 * 1024, i))).toBe(0);
    const onDisk = readFileSync(image);
    expect(
      Buffer.compare(onDisk.subarray(5 * 64 * 512, 5 * 64 * 512 + 32 * 1024), pattern(32 * 1024, 5)),
    ).toBe(0);
  });

  it('write zeroes and deallocate read back as zeroes', async () => {
    const dir = scratch();
    const image = join(dir, 'z.img');
    writeFileSync(image, new Uint8Array(1 << 20).fill(0xee));
    const fileServer = await serve(`file:${image}`, [], dir);
    const driver = await attach(fileServer);
    await driver.writeZeroes(8, 8);
    await driver.deallocate(100, 20);
    expect((await driver.read(8, 8)).every((b) => b === 0)).toBe(true);
    expect((await driver.read(100, 20)).every((b) => b === 0)).toBe(true);
    expect((await driver.read(16, 1))[0]).toBe(0xee);
  });

  it('reports command errors with their NVMe status and keeps working', async () => {
    const server = await serve(`null:${1 << 20}`);
    const driver = await attach(server);
    const bad = await driver.adminCommand(0xee).catch((e: unknown) => e);
    expect(isNvmeDriverError(bad) && bad.code === 'command-failed' && bad.context.status).toBe(0x4001);
    expect((await driver.read(0, 1)).length).toBe(512);
  });

  it('maps a backend I/O error to Unrecovered Read Error and Write Fault', async () => {
    const server = await serve(`faulty:${1 << 20}:${100 * 512}`);
    const driver = await attach(server);
    const read = await driver.read(96, 8).catch((e: unknown) => e);
    expect(isNvmeDriverError(read) && read.context.status).toBe(0x0281);
    const write = await driver.write(100, new Uint8Array(512)).catch((e: unknown) => e);
    expect(isNvmeDriverError(write) && write.context.status).toBe(0x0280);
    expect((await driver.read(0, 8)).length).toBe(4096);
  });

  it('resets the controller mid-I/O: outstanding commands fail, the disk works afterwards', async () => {
    const image = join(scratch(), 'reset.img');
    writeFileSync(image, new Uint8Array(4 << 20));
    const server = await serve(`file:${image}`);
    const driver = await attach(server, { queueDepth: 64 });
    const inflight = [...Array(48).keys()].map((i) =>
      driver.read(i * 8, 8).then(
        () => 'ok',
        (e: unknown) => (isNvmeDriverError(e) ? e.code : 'other'),
      ),
    );
    await driver.resetController();
    const outcomes = await Promise.all(inflight);
    expect(outcomes.every((o) => o === 'ok' || o === 'aborted')).toBe(true);
    await driver.write(0, pattern(4096, 1));
    expect(Buffer.compare(await driver.read(0, 8), pattern(4096, 1))).toBe(0);
  });

  it('keeps data across a server restart on the same file and survives a killed client', async () => {
    const dir = scratch();
    const image = join(dir, 'persist.img');
    writeFileSync(image, new Uint8Array(4 << 20));
    const a = await serve(`file:${image}`, [], dir);
    const d1 = await attach(a);
    await d1.write(1000, pattern(8192, 3), { fua: true });
    await a.kill();
    const b = await serve(`file:${image}`, [], dir);
    const d2 = await attach(b);
    expect(Buffer.compare(await d2.read(1000, 16), pattern(8192, 3))).toBe(0);
  });

  it('serves the next client after one vanished in the middle of I/O', async () => {
    const image = join(scratch(), 'vanish.img');
    writeFileSync(image, new Uint8Array(4 << 20));
    const server = await serve(`file:${image}`);
    const client = await VfioUserClient.connect(server.socketPath);
    const driver = await NvmeDriver.attach(client, { queueDepth: 64 });
    const inflight = [...Array(60).keys()].map((i) =>
      driver.write(i * 16, pattern(8192, i)).catch(() => undefined),
    );
    await client.close();
    await Promise.all(inflight);
    await driver.close();
    const next = await attach(server);
    await next.write(0, pattern(512, 9));
    expect(Buffer.compare(await next.read(0, 1), pattern(512, 9))).toBe(0);
  });
});
