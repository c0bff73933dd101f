import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expectNoFdLeaks, makeTempDir } from '@vfu/test-utils';
import { afterEach, beforeEach, expect, it, onTestFinished } from 'vitest';
import { createMemfd, EventFd, MappedRegion, UnixListener, type UnixSocket } from '../src/index';

expectNoFdLeaks({ beforeEach, afterEach });

const peerScript = fileURLToPath(new URL('./fixtures/memfd-peer.ts', import.meta.url));

it('shares a memfd and an eventfd with another process: both sides see each other’s writes', async () => {
  const dir = makeTempDir();
  onTestFinished(() => dir.remove());
  const listener = UnixListener.listen(dir.join('peer.sock'));
  const accepted = new Promise<UnixSocket>((resolve) => listener.onConnection(resolve));
  const child = spawn(process.execPath, ['--import', 'tsx', peerScript, dir.join('peer.sock')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  onTestFinished(async () => {
    child.kill();
    await exited;
  });
  const socket = await accepted;
  listener.close();

  const size = 64 * 1024;
  const memfd = createMemfd('cross-process', { size });
  const region = MappedRegion.map(memfd);
  const bytes = region.bytes();
  for (let i = 0; i < size; i++) bytes[i] = (i * 7) % 251;
  const doorbell = EventFd.create();
  socket.sendmsg(new Uint8Array([1]), [memfd, doorbell]);
  memfd.close();

  // 1 = the child saw the whole pattern; 2 = it did not.
  expect(await doorbell.wait()).toBe(1n);
  expect(bytes.every((b, i) => b === 255 - ((i * 7) % 251))).toBe(true);
  expect(await exited).toBe(0);
  region.unmap();
  doorbell.close();
  socket.close();
});
