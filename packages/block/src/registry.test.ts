import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { BlockError } from './errors';
import { BlockNodeRegistry } from './registry';

function registry() {
  const r = new BlockNodeRegistry();
  onTestFinished(() => r.closeAll());
  return r;
}

describe('BlockNodeRegistry', () => {
  it('adds nodes from -blockdev strings and JSON, and lists them as query-named-block-nodes', async () => {
    const dir = makeTempDir();
    onTestFinished(() => dir.remove());
    const img = dir.join('d.img');
    writeFileSync(img, Buffer.alloc(1 << 20));
    const r = registry();
    await r.add(`driver=file,node-name=disk0,filename=${img}`);
    await r.add({ driver: 'null-co', 'node-name': 'null0', size: 4096, 'read-zeroes': true });
    expect(r.get('disk0').backend.size).toBe(1 << 20);
    expect(r.queryNamedBlockNodes()).toMatchObject([
      { 'node-name': 'disk0', drv: 'file', file: img, ro: false, image: { 'virtual-size': 1 << 20 } },
      { 'node-name': 'null0', drv: 'null-co', file: 'null-co://', image: { 'virtual-size': 4096 } },
    ]);
    // query-block lists only nodes a device uses, as QEMU lists BlockBackends.
    expect(r.queryBlock()).toEqual([]);
    r.attach('null0', 'nvme0');
    expect(r.queryBlock()).toMatchObject([{ device: '', qdev: 'nvme0', inserted: { 'node-name': 'null0' } }]);
  });

  it('refuses a duplicate node-name, also while the first is still opening', async () => {
    const r = registry();
    const first = r.add('driver=null-co,node-name=a');
    await expect(r.add('driver=null-co,node-name=a')).rejects.toMatchObject({ code: 'node-exists' });
    await first;
    await expect(r.add('driver=null-co,node-name=a')).rejects.toThrow("Duplicate nodes with node-name='a'");
  });

  it('a node in use by a device cannot be attached elsewhere or deleted; after detach it can', async () => {
    const r = registry();
    const { backend } = await r.add('driver=null-co,node-name=n');
    expect(r.attach('n', 'dev0')).toBe(backend);
    expect(() => r.attach('n', 'dev1')).toThrow(BlockError);
    await expect(r.del('n')).rejects.toMatchObject({
      code: 'node-in-use',
      errnoName: 'EBUSY',
      errno: 16,
      context: { nodeName: 'n' },
    });
    r.detach('n', 'dev0');
    await r.del('n');
    expect(backend.closed).toBe(true);
    expect(r.has('n')).toBe(false);
    await expect(r.del('n')).rejects.toMatchObject({ code: 'node-not-found' });
  });

  it('a failed open leaves no node behind and names the node', async () => {
    const r = registry();
    const missing = join(makeTempDir().path, 'none.img');
    rmSync(missing, { force: true });
    await expect(r.add(`driver=file,node-name=bad,filename=${missing}`)).rejects.toMatchObject({
      code: 'open-failed',
      errnoName: 'ENOENT',
      context: { nodeName: 'bad' },
      message: expect.stringContaining("node 'bad'"),
    });
    expect(r.has('bad')).toBe(false);
    await r.add('driver=null-co,node-name=bad');
  });

  it('rejects bad options before opening anything', async () => {
    const opened: string[] = [];
    const r = new BlockNodeRegistry({
      open: async (o) => {
        opened.push(o['node-name']);
        throw new Error('unreachable');
      },
    });
    await expect(r.add('driver=file,node-name=x')).rejects.toMatchObject({ code: 'invalid-option' });
    expect(opened).toEqual([]);
  });
});
