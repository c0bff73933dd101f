import { readFileSync } from 'node:fs';
import { listOpenFds } from '@vfu/sys';
import { makeTempDir } from '@vfu/test-utils';
import { describe, expect, onTestFinished, test } from 'vitest';
import { VfioUserServer } from '../src/index';
import { runClientProcess } from './support/child';
import { DEVICE_ID_VALUE, type TestDevice, testTree } from './support/device';

function listening(name = 's0') {
  const dir = makeTempDir('vfu-srv-');
  const tree = testTree();
  const server = new VfioUserServer({ id: name, socketPath: dir.join(`${name}.sock`), tree });
  const device = tree.deviceAdd({ driver: 'vfu-test', bus: name }) as TestDevice;
  onTestFinished(async () => {
    await server.close();
    dir.remove();
  });
  return { server, device, dir, tree };
}

describe('over a real socket, client in another process', () => {
  test('negotiation, info, config, BAR access, DMA with and without fd, INTx, reset; then a second client', async () => {
    const { server } = listening();
    await server.start();
    const fdsBefore = listOpenFds().length;
    const first = await runClientProcess(server.socketPath, 'tour');
    expect(first.stderr).toBe('');
    expect(first.output).toEqual({
      version: '0.2',
      info: { argsz: 16, flags: 3, numRegions: 9, numIrqs: 5 },
      bar0Size: '4096',
      vendor: 0x1af4,
      scratch: 0x1234abcd,
      fdDmaStatus: 2,
      fdDmaData: [0xde, 0xad, 0xbe, 0xef],
      msgDmaStatus: 2,
      msgDmaData: [0xde, 0xad, 0xbe, 0xef],
      dmaLog: ['write@200010+4'],
      intx: '1',
      scratchAfterReset: 0,
    });
    // The endpoint is ready for the next client once the first is gone.
    await new Promise((r) =>
      server.connected ? server.on('client-disconnected', () => r(undefined)) : r(undefined),
    );
    const second = await runClientProcess(server.socketPath, 'tour');
    expect(second.output?.scratch).toBe(0x1234abcd);
    await new Promise((r) =>
      server.connected ? server.on('client-disconnected', () => r(undefined)) : r(undefined),
    );
    expect(listOpenFds().length).toBe(fdsBefore);
    // The client's memfds are unmapped too.
    expect(readFileSync('/proc/self/maps', 'utf8')).not.toMatch(/memfd:guest/);
    expect(server.bus.memoryAddressSpace.readU32(0xfe000000n)).not.toBe(DEVICE_ID_VALUE); // reset on disconnect
  });

  test('a second server on a live socket path gets socket-in-use; start twice is already-started', async () => {
    const { server, dir } = listening('s0');
    await server.start();
    await expect(server.start()).rejects.toMatchObject({ code: 'already-started' });
    const tree = testTree();
    const other = new VfioUserServer({ id: 's1', socketPath: server.socketPath, tree });
    onTestFinished(() => other.close());
    await expect(other.start()).rejects.toMatchObject({ code: 'socket-in-use' });
    const closed = new VfioUserServer({ id: 's2', socketPath: dir.join('x.sock'), tree });
    await closed.close();
    await expect(closed.start()).rejects.toMatchObject({ code: 'closed' });
  });
});
