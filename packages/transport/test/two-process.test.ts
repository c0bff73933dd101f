import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from '@vfu/protocol';
import { EventFd, MappedRegion } from '@vfu/sys';
import { expectNoFdLeaks, makeTempDir } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { type Channel, listen, type TransportError } from '../src/index';

expectNoFdLeaks({ beforeEach, afterEach });

const peer = fileURLToPath(new URL('./fixtures/vmm-peer.ts', import.meta.url));
const limits = { maxMessageSize: 1 << 20, maxFdsPerMessage: 4 };

function startPeer(
  path: string,
  scenario: string,
): { child: ChildProcess; output: Promise<string>; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@vfu/source', peer, path, scenario],
    {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  // 'close' comes after the exit and after the stdio pipes are closed, so no descriptor remains.
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  onTestFinished(async () => {
    child.kill();
    await exited;
  });
  return { child, output: exited.then(() => out), exited };
}

describe('two processes over a socket path', () => {
  it('share a memfd both ways, answer peer requests, and ring a passed eventfd', async () => {
    const dir = makeTempDir();
    onTestFinished(() => dir.remove());
    const listener = listen(dir.join('vfu.sock'), { receiveLimits: limits, sendLimits: limits });
    onTestFinished(() => listener.close());
    const { output, exited } = startPeer(listener.path, 'share');
    const channel = await listener.accept();
    onTestFinished(() => channel.destroy());
    listener.close();

    let doorbell: EventFd | undefined;
    channel.onRequest(async (req) => {
      if (req.header.command === Command.DmaMap) {
        const [fd] = req.takeFds();
        const region = MappedRegion.map(fd!);
        fd!.close();
        const bytes = region.bytes();
        const sawPattern = bytes.every((b, i) => b === (i * 13) % 253);
        // Read 16 bytes at offset 4096 of guest memory the slow way too, through the client.
        const offset = new Uint8Array(16);
        new DataView(offset.buffer).setUint32(0, 4096, true);
        const dma = await channel.request(Command.DmaRead, offset);
        const dmaMatches = dma.payload.every((b, i) => b === bytes[4096 + i]);
        for (let i = 0; i < bytes.length; i++) bytes[i] = 255 - bytes[i]!;
        region.unmap();
        return { payload: new Uint8Array([sawPattern && dmaMatches ? 1 : 0]) };
      }
      if (req.header.command === Command.DeviceSetIrqs) {
        doorbell = EventFd.adopt(req.takeFds()[0]!);
        setTimeout(() => doorbell!.signal(5), 5);
        return {};
      }
      throw Object.assign(new Error('unexpected command'), { errno: 22 });
    });
    const closed = new Promise<TransportError | undefined>((resolve) => channel.once('close', resolve));

    expect(JSON.parse(await output)).toEqual({ serverSawPattern: true, serverWroteBack: true, value: 5 });
    expect(await exited).toBe(0);
    expect(await closed).toMatchObject({ code: 'PEER_CLOSED' });
    doorbell?.close();
  });

  it('closes everything when the peer dies in the middle of a message', async () => {
    const dir = makeTempDir();
    onTestFinished(() => dir.remove());
    const listener = listen(dir.join('vfu.sock'), { receiveLimits: limits });
    onTestFinished(() => listener.close());
    const { child, exited } = startPeer(listener.path, 'die');
    const channel: Channel = await listener.accept();
    listener.close();
    const closed = new Promise<TransportError | undefined>((resolve) => channel.once('close', resolve));
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    // Let the server read the half message and its fd before the peer goes.
    await new Promise((resolve) => setTimeout(resolve, 20));
    child.stdin!.write('go\n');
    expect(await exited).toBe(0);
    const reason = await closed;
    expect(reason).toMatchObject({ code: 'PEER_CLOSED' });
    expect(reason?.message).toMatch(/middle of a message/);
  });
});
