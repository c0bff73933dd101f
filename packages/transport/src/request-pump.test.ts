import type { MessageHeader } from '@vfu/protocol';
import { describe, expect, test } from 'vitest';
import { ReceivedMessage } from './received-message';
import { type ReplyBody, RequestPump } from './request-pump';

function header(msgId: number): MessageHeader {
  return {
    msgId,
    command: 9,
    msgSize: 16 + 24,
    type: 'command',
    noReply: false,
    error: false,
    errorNo: 0,
    flags: 0,
  };
}

function setup(options: { burstMessages?: number; burstBytes?: number }, replyBytes: number, async = false) {
  const replies: number[] = [];
  const pump = new RequestPump(
    {
      reply: (h) => replies.push(h.msgId),
      errorReply: () => {
        throw new Error('no error replies expected');
      },
      warning: (e) => {
        throw e;
      },
      pauseReading: () => {},
      closed: false,
    },
    { serialize: true, maxQueued: 100_000, ...options },
  );
  const reply: ReplyBody = { payload: new Uint8Array(replyBytes) };
  pump.setHandler(() => (async ? Promise.resolve(reply) : reply));
  const push = (n: number) => {
    for (let i = 0; i < n; i++) {
      pump.push(new ReceivedMessage({ header: header(i), payload: new Uint8Array(24), fds: [] }));
    }
  };
  return { pump, replies, push };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function settle(replies: number[], want: number): Promise<number> {
  let turns = 0;
  while (replies.length < want) {
    await turn();
    turns++;
  }
  return turns;
}

describe('RequestPump bursts', () => {
  test('a backlog of large replies is handled one burst of bytes per turn of the event loop', async () => {
    const { replies, push } = setup({ burstBytes: 1024 * 1024 }, 1024 * 1024);
    push(128);
    // 1 MiB replies: one per burst, the rest after other sockets had their turn.
    expect(replies.length).toBe(1);
    const turns = await settle(replies, 128);
    expect(turns).toBeGreaterThanOrEqual(127);
    expect(replies).toEqual([...Array(128).keys()]);
  });

  test('small requests go in bursts of burstMessages, async handlers too', async () => {
    for (const async of [false, true]) {
      const { replies, push } = setup({ burstMessages: 64 }, 8, async);
      push(1000);
      await Promise.resolve();
      for (let i = 0; i < 200; i++) await Promise.resolve();
      // Microtasks alone never get past the first burst.
      expect(replies.length).toBeLessThanOrEqual(64);
      expect(replies.length).toBeGreaterThan(0);
      await settle(replies, 1000);
      expect(replies).toEqual([...Array(1000).keys()]);
    }
  });

  test('a peer that sends one request per turn never waits for a burst boundary', async () => {
    const { replies, push } = setup({ burstMessages: 2 }, 8);
    for (let i = 0; i < 10; i++) {
      push(1);
      // Handled at once: every turn of the event loop starts a fresh burst.
      expect(replies.length).toBe(i + 1);
      await turn();
    }
  });
});
