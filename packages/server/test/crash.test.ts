// A client process that dies mid-message or mid-DMA: its endpoint cleans up and takes the next
// client, the other endpoint keeps serving, and nothing leaks.
import { listOpenFds } from '@vfu/sys';
import { makeTempDir } from '@vfu/test-utils';
import { connect } from '@vfu/transport';
import { expect, onTestFinished, test } from 'vitest';
import { VfioUserServer } from '../src/index';
import { runClientProcess } from './support/child';
import { TestClient } from './support/client';
import { DEVICE_ID_VALUE, REG, type TestDevice, testTree } from './support/device';

async function setup() {
  const dir = makeTempDir('vfu-crash-');
  const tree = testTree();
  const make = (id: string) => {
    const server = new VfioUserServer({
      id,
      socketPath: dir.join(`${id}.sock`),
      tree,
      requestTimeoutMs: 2000,
    });
    const device = tree.deviceAdd({ driver: 'vfu-test', bus: id }) as TestDevice;
    return { server, device };
  };
  const victim = make('s0');
  const bystander = make('s1');
  await victim.server.start();
  await bystander.server.start();
  const other = new TestClient(await connect(bystander.server.socketPath));
  await other.negotiate();
  await other.barWrite32(0, REG.SCRATCH, 77);
  onTestFinished(async () => {
    await other.close();
    await victim.server.close();
    await bystander.server.close();
    dir.remove();
  });
  return { victim, bystander, other };
}

function disconnected(server: VfioUserServer): Promise<void> {
  return new Promise((resolve) => server.on('client-disconnected', resolve));
}

test('a client dying in the middle of a message', async () => {
  const { victim, other } = await setup();
  const fds = listOpenFds().length;
  const gone = disconnected(victim.server);
  const child = await runClientProcess(victim.server.socketPath, 'dieMidMessage');
  expect(child.output).toEqual({ sent: 'half' });
  await gone;
  expect(listOpenFds().length).toBe(fds);
  expect(await other.barRead32(0, REG.SCRATCH)).toBe(77);
  const again = await runClientProcess(victim.server.socketPath, 'tour');
  expect(again.output?.scratch).toBe(0x1234abcd);
});

test('a client dying while the device waits for its DMA_READ', async () => {
  const { victim, other } = await setup();
  const fds = listOpenFds().length;
  const gone = disconnected(victim.server);
  const child = await runClientProcess(victim.server.socketPath, 'dieMidDma');
  expect(child.output).toEqual({ died: 'on DMA_READ' });
  await gone;
  // The device's DMA failed cleanly; then the disconnect reset it.
  expect(await victim.device.lastDma).toBe('access-error');
  expect(victim.server.dmaMappings).toHaveLength(0);
  expect(listOpenFds().length).toBe(fds);
  expect(await other.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
  expect(await other.barRead32(0, REG.SCRATCH)).toBe(77);
});
