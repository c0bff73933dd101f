import { Command, decodeHeader, encodeHeader, HEADER_SIZE } from '@vfu/protocol';
import { EventFd, UnixSocket } from '@vfu/sys';
import { expectNoFdLeaks } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Channel, type TappedMessage } from './channel';
import { channelPair } from './connect';

expectNoFdLeaks({ beforeEach, afterEach });

const open: Channel[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.destroy();
});

/** Copies what a tap sees, since its views are only valid during the call. */
function recorder(): {
  seen: { direction: string; bytes: Uint8Array; fds: number; time: number }[];
  tap: (m: TappedMessage) => void;
} {
  const seen: { direction: string; bytes: Uint8Array; fds: number; time: number }[] = [];
  return {
    seen,
    tap: (m) => {
      const total = m.parts.reduce((n, p) => n + p.byteLength, 0);
      const bytes = new Uint8Array(total);
      let at = 0;
      for (const p of m.parts) {
        bytes.set(p, at);
        at += p.byteLength;
      }
      seen.push({ direction: m.direction, bytes, fds: m.fds, time: m.time });
    },
  };
}

describe('message tap', () => {
  it('sees each request and reply in both directions with its bytes and fd count', async () => {
    const server = recorder();
    const [client, peer] = channelPair();
    open.push(client, peer);
    peer.setTap(server.tap);
    peer.onRequest((req) => ({ payload: req.payload }));
    const efd = EventFd.create();
    try {
      const reply = await client.request(Command.DmaMap, new Uint8Array([1, 2, 3, 4]), { fds: [efd] });
      reply.takeFds();
    } finally {
      efd.close();
    }
    expect(server.seen.map((s) => s.direction)).toEqual(['received', 'sent']);
    const [rx, tx] = server.seen as [(typeof server.seen)[0], (typeof server.seen)[0]];
    expect(rx.fds).toBe(1);
    expect(tx.fds).toBe(0);
    expect(decodeHeader(rx.bytes).command).toBe(Command.DmaMap);
    expect(rx.bytes.subarray(HEADER_SIZE)).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(decodeHeader(tx.bytes)).toMatchObject({ type: 'reply', msgSize: 20 });
    expect(tx.time).toBeGreaterThanOrEqual(rx.time);
    expect(Math.abs(rx.time - Date.now())).toBeLessThan(60_000);
  });

  it('sees a malformed header before it is rejected', async () => {
    const r = recorder();
    const [a, b] = UnixSocket.pair();
    const channel = new Channel(a, { tap: r.tap });
    open.push(channel);
    const bad = encodeHeader({ msgId: 7, command: Command.DeviceGetInfo, type: 'command', msgSize: 16 });
    bad[4] = 8; // msg_size 8: shorter than a header
    b.sendmsg([bad], []);
    await new Promise<void>((resolve) =>
      channel.once('warning', () => resolve()).once('close', () => resolve()),
    );
    b.close();
    expect(r.seen[0]?.direction).toBe('received');
    expect(r.seen[0]?.bytes).toEqual(bad);
  });

  it('a tap that throws is removed with a warning and the channel keeps working', async () => {
    const [client, peer] = channelPair();
    open.push(client, peer);
    let calls = 0;
    client.setTap(() => {
      calls++;
      throw new Error('disk full');
    });
    const warnings: string[] = [];
    client.on('warning', (w) => warnings.push(w.message));
    peer.onRequest(() => undefined);
    await client.request(Command.DeviceReset);
    await client.request(Command.DeviceReset);
    expect(calls).toBe(1);
    expect(warnings).toEqual([expect.stringContaining('disk full')]);
  });
});
