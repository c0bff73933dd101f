import { truncateSync, writeFileSync } from 'node:fs';
import { VfioUserClient } from '@vfu/client';
import { NvmeDriver } from '@vfu/nvme-driver';
import { connectQmp } from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runCli, startServer, tempDir } from './support';

function image(path: string, size: number): string {
  writeFileSync(path, '');
  truncateSync(path, size);
  return path;
}

async function attach(socketPath: string): Promise<NvmeDriver> {
  const client = await VfioUserClient.connect(socketPath);
  onTestFinished(() => client.close());
  const driver = await NvmeDriver.attach(client);
  onTestFinished(() => driver.close());
  return driver;
}

describe('-blockdev and -device nvme', () => {
  it('serves a file-backed disk: the size is right and data reaches the file', async () => {
    const dir = tempDir();
    const disk = image(dir.join('disk.img'), 8 << 20);
    await startServer([
      '-blockdev',
      `driver=file,node-name=d0,filename=${disk}`,
      '-object',
      `vfio-user-server,id=s0,socket=${dir.join('nvme.sock')}`,
      '-device',
      'nvme,id=nvme0,bus=s0,drive=d0,serial=deadbeef,logical_block_size=4096',
    ]);
    const nvme = await attach(dir.join('nvme.sock'));
    expect(nvme.namespaces).toEqual([{ nsid: 1, blocks: 2048, blockSize: 4096 }]);
    await nvme.write(3, new Uint8Array(4096).fill(0x5a), { fua: true });
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(disk)[3 * 4096]).toBe(0x5a);
  });

  it('takes block nodes from --config and the monitor: blockdev-add, device_add, query-block, blockdev-del', async () => {
    const dir = tempDir();
    writeFileSync(
      dir.join('vfu.json'),
      JSON.stringify({
        blockdevs: [{ driver: 'null-co', 'node-name': 'n0', size: 1 << 20 }],
        objects: [{ 'qom-type': 'vfio-user-server', id: 's0', socket: 'a.sock' }],
        devices: [{ driver: 'nvme', id: 'nvme0', bus: 's0', drive: 'n0', serial: 'A1' }],
        monitors: ['qmp.sock'],
      }),
    );
    await startServer(['--config', dir.join('vfu.json')]);
    const nvme = await attach(dir.join('a.sock'));
    expect(nvme.namespaces[0]?.blocks).toBe(2048);
    const qmp = await connectQmp(dir.join('qmp.sock'));
    onTestFinished(() => qmp.close());
    await qmp.execute('qmp_capabilities');
    image(dir.join('b.img'), 1 << 20);
    expect(
      await qmp.execute('blockdev-add', { driver: 'file', 'node-name': 'f1', filename: dir.join('b.img') }),
    ).toEqual({ return: {} });
    expect(
      await qmp.execute('blockdev-add', { driver: 'file', 'node-name': 'f1', filename: 'x' }),
    ).toMatchObject({
      error: { class: 'GenericError' },
    });
    expect(
      await qmp.execute('object-add', {
        'qom-type': 'vfio-user-server',
        id: 's1',
        socket: dir.join('b.sock'),
      }),
    ).toEqual({ return: {} });
    expect(
      await qmp.execute('device_add', { driver: 'nvme', id: 'nvme1', bus: 's1', drive: 'f1', serial: 'B2' }),
    ).toEqual({
      return: {},
    });
    const block = (await qmp.execute('query-block')).return as Array<{ qdev?: string; device?: string }>;
    expect(block.map((b) => b.qdev ?? b.device).sort()).toEqual(['nvme0', 'nvme1']);
    // In use: refused; after device_del: closed.
    expect(await qmp.execute('blockdev-del', { 'node-name': 'f1' })).toMatchObject({
      error: { class: 'GenericError' },
    });
    expect(
      await qmp.execute('device_add', { driver: 'nvme', id: 'nvme2', bus: 's1', drive: 'f1', serial: 'C' }),
    ).toMatchObject({
      error: {},
    });
    expect(await qmp.execute('device_del', { id: 'nvme1' })).toEqual({ return: {} });
    await new Promise((r) => setTimeout(r, 50));
    expect(await qmp.execute('blockdev-del', { 'node-name': 'f1' })).toEqual({ return: {} });
  });

  it('refuses a bad -blockdev and an unknown drive with exit status 2 or 1 and a clear message', async () => {
    const bad = await runCli(['-blockdev', 'driver=floppy,node-name=x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/-blockdev 'driver=floppy,node-name=x': .*floppy/);
    const dir = tempDir();
    const missing = await runCli([
      '-object',
      `vfio-user-server,id=s0,socket=${dir.join('x.sock')}`,
      '-device',
      'nvme,bus=s0,drive=nope,serial=x',
    ]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/drive 'nope' is not a known block node/);
  });
});
