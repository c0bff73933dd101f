// --require-sealed-dma-fds and the config key requireSealedDmaFds reach every endpoint: DMA_MAP of
// memory a client could truncate (no F_SEAL_SHRINK) is refused with EPERM, sealed memory maps.
import { writeFileSync } from 'node:fs';
import { Command, Errno, encodeMessage, HEADER_SIZE } from '@vfu/protocol';
import { createMemfd, Seal } from '@vfu/sys';
import { type Channel, connect, isTransportError } from '@vfu/transport';
import { describe, expect, it, onTestFinished } from 'vitest';
import { call, startServer, tempDir } from './support';

async function dmaMapErrno(socketPath: string, sealed: boolean): Promise<number> {
  const channel = await connect(socketPath);
  try {
    return await dmaMap(channel, sealed);
  } finally {
    // One client at a time per endpoint: let the next one in.
    await channel.close();
  }
}

async function dmaMap(channel: Channel, sealed: boolean): Promise<number> {
  await call(channel, Command.Version, { major: 0, minor: 2, capabilities: { maxMsgFds: 8 } });
  const memfd = createMemfd('guest', { size: 0x10000 });
  onTestFinished(() => memfd.close());
  if (sealed) memfd.addSeals(Seal.SHRINK);
  const payload = encodeMessage({
    kind: 'request',
    command: Command.DmaMap,
    msgId: 0,
    body: { argsz: 32, flags: 3, offset: 0n, addr: sealed ? 0x100000n : 0x200000n, size: 0x10000n },
  }).subarray(HEADER_SIZE);
  try {
    await channel.request(Command.DmaMap, payload, { fds: [memfd] });
    return 0;
  } catch (e) {
    if (isTransportError(e) && e.code === 'ERROR_REPLY') return e.errno ?? -1;
    throw e;
  }
}

describe('sealed DMA memory', () => {
  it('--require-sealed-dma-fds: unsealed memfds are refused with EPERM, sealed ones map', async () => {
    const dir = tempDir();
    const sock = dir.join('edu.sock');
    await startServer(['--require-sealed-dma-fds', '-device', `edu,socket=${sock}`]);
    expect(await dmaMapErrno(sock, false)).toBe(Errno.EPERM);
    expect(await dmaMapErrno(sock, true)).toBe(0);
  });

  it('"requireSealedDmaFds": true in the config file does the same; by default both map', async () => {
    const dir = tempDir();
    const sealedSock = dir.join('sealed.sock');
    const config = dir.join('vfu.json');
    writeFileSync(
      config,
      JSON.stringify({ devices: [{ driver: 'edu', socket: sealedSock }], requireSealedDmaFds: true }),
    );
    await startServer(['--config', config]);
    expect(await dmaMapErrno(sealedSock, false)).toBe(Errno.EPERM);
    const openSock = dir.join('open.sock');
    await startServer(['-device', `edu,socket=${openSock}`]);
    expect(await dmaMapErrno(openSock, false)).toBe(0);
  });
});
