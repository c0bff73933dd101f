import { describe, expect, it } from 'vitest';
import { concat, rawMessage } from '../test/helpers';
import { Errno } from './errors';
import { type FramerEvent, MessageFramer } from './framer';

const LIMITS = { maxMessageSize: 1024, maxFdsPerMessage: 2 };

function msg(msgId: number, payloadLen: number, command = 9): Uint8Array {
  return rawMessage({
    msgId,
    command,
    payload: new Uint8Array(payloadLen).map((_, i) => (i + msgId) & 0xff),
  });
}

function all(framer: MessageFramer): FramerEvent[] {
  const out: FramerEvent[] = [];
  for (let e = framer.next(); e !== undefined; e = framer.next()) out.push(e);
  return out;
}

function ids(events: FramerEvent[]): (number | string)[] {
  return events.map((e) => (e.kind === 'message' ? e.message.header.msgId : `error:${e.error.code}`));
}

describe('MessageFramer', () => {
  it('yields several messages from one chunk', () => {
    const f = new MessageFramer(LIMITS);
    f.push(concat(msg(1, 16), msg(2, 0, 13), msg(3, 20)));
    const events = all(f);
    expect(ids(events)).toEqual([1, 2, 3]);
    const first = events[0];
    expect(first?.kind === 'message' && first.message.payload.length).toBe(16);
  });

  it('reassembles a message split at every possible byte', () => {
    const whole = concat(msg(1, 40), msg(2, 8));
    for (let cut = 0; cut <= whole.length; cut++) {
      const f = new MessageFramer(LIMITS);
      f.push(whole.slice(0, cut));
      const a = all(f);
      f.push(whole.slice(cut));
      const events = [...a, ...all(f)];
      expect(ids(events), `cut at ${cut}`).toEqual([1, 2]);
      const m = events[0];
      if (m?.kind === 'message') expect([...m.message.payload]).toEqual([...msg(1, 40).subarray(16)]);
    }
  });

  it('handles a stream delivered one byte at a time', () => {
    const whole = concat(msg(1, 3), msg(2, 0), msg(3, 100));
    const f = new MessageFramer(LIMITS);
    const events: FramerEvent[] = [];
    for (const b of whole) {
      f.push(Uint8Array.of(b));
      events.push(...all(f));
    }
    expect(ids(events)).toEqual([1, 2, 3]);
  });

  it('hands out a view of the chunk when the payload lies in one chunk', () => {
    const chunk = msg(1, 32);
    const f = new MessageFramer(LIMITS);
    f.push(chunk);
    const e = f.next();
    expect(e?.kind === 'message' && e.message.payload.buffer).toBe(chunk.buffer);
  });

  it('attaches fds to the first message not yet complete', () => {
    const a = msg(1, 8);
    const b = msg(2, 8);
    const f = new MessageFramer(LIMITS);
    // Chunk 1: all of A and the first half of B, with fd 10 (A's); chunk 2: rest of B with fd 11.
    f.push(concat(a, b.subarray(0, 10)), [10]);
    f.push(b.subarray(10), [11]);
    const events = all(f);
    expect(events.map((e) => (e.kind === 'message' ? e.message.fds : []))).toEqual([[10], [11]]);
  });

  it('gives fds pushed at a message boundary to the next message', () => {
    const f = new MessageFramer(LIMITS);
    f.push(msg(1, 4));
    f.push(msg(2, 4), [7, 8]);
    expect(all(f).map((e) => (e.kind === 'message' ? e.message.fds : []))).toEqual([[], [7, 8]]);
  });

  it('rejects a message with too many fds, returns them, and stays in sync', () => {
    const f = new MessageFramer(LIMITS);
    f.push(msg(1, 4), [1, 2, 3]);
    f.push(msg(2, 4));
    const [bad, good] = all(f);
    expect(bad).toMatchObject({ kind: 'error', fds: [1, 2, 3], resync: true, header: { msgId: 1 } });
    expect(bad?.kind === 'error' && bad.error.errno).toBe(Errno.EINVAL);
    expect(bad?.kind === 'error' && bad.error.code).toBe('too-many-fds');
    expect(good?.kind).toBe('message');
  });

  it('skips an oversize message without buffering it and resynchronises', () => {
    const f = new MessageFramer({ maxMessageSize: 64, maxFdsPerMessage: 1 });
    const big = msg(1, 500);
    f.push(big.subarray(0, 100), [5]);
    expect(f.next()).toBeUndefined();
    f.push(concat(big.subarray(100), msg(2, 8)));
    const [bad, good] = all(f);
    expect(bad).toMatchObject({ kind: 'error', resync: true, fds: [5], header: { msgId: 1, msgSize: 516 } });
    expect(bad?.kind === 'error' && bad.error.code).toBe('message-too-large');
    expect(bad?.kind === 'error' && bad.error.errno).toBe(Errno.E2BIG);
    expect(good?.kind === 'message' && good.message.header.msgId).toBe(2);
  });

  it('does not keep the body of an oversize message buffered', () => {
    const f = new MessageFramer({ maxMessageSize: 64, maxFdsPerMessage: 1 });
    f.push(rawMessage({ command: 10, msgSize: 1 << 30 }));
    f.push(new Uint8Array(4096));
    expect(f.next()).toBeUndefined();
    expect(f.drain().bufferedBytes).toBe(0);
  });

  it('reports bad flags with resync and keeps going', () => {
    const f = new MessageFramer(LIMITS);
    f.push(concat(rawMessage({ msgId: 1, command: 9, flags: 0x5, payload: [1, 2] }), msg(2, 0)));
    const [bad, good] = all(f);
    expect(bad).toMatchObject({ kind: 'error', resync: true });
    expect(bad?.kind === 'error' && bad.error.code).toBe('bad-flags');
    expect(good?.kind).toBe('message');
  });

  it('hands back an invalid type (2..15) as a command header, raw flags kept, so the owner answers it', () => {
    for (const typeBits of [2, 5, 15]) {
      const f = new MessageFramer(LIMITS);
      f.push(rawMessage({ msgId: 7, command: 4, flags: typeBits, payload: new Uint8Array(16) }));
      expect(f.next()).toMatchObject({
        kind: 'error',
        resync: true,
        header: { msgId: 7, command: 4, type: 'command', flags: typeBits, noReply: false },
      });
    }
  });

  it('keeps the header of a command with reserved bits so the owner can reply', () => {
    const f = new MessageFramer(LIMITS);
    f.push(rawMessage({ msgId: 3, command: 4, flags: 0x80, payload: new Uint8Array(16) }));
    expect(f.next()).toMatchObject({ kind: 'error', resync: true, header: { msgId: 3, type: 'command' } });
  });

  it('gives up on msg_size below 16: no resync, every fd returned, then silence', () => {
    const f = new MessageFramer(LIMITS);
    f.push(rawMessage({ command: 1, msgSize: 4 }), [9]);
    f.push(msg(2, 0), [10]);
    const e = f.next();
    expect(e).toMatchObject({ kind: 'error', resync: false, fds: [9, 10] });
    expect(e?.kind === 'error' && e.error.errno).toBe(Errno.EINVAL);
    expect(f.next()).toBeUndefined();
  });

  it('drains buffered bytes and held fds for shutdown', () => {
    const f = new MessageFramer(LIMITS);
    f.push(msg(1, 40).subarray(0, 30), [4]);
    expect(f.next()).toBeUndefined();
    expect(f.drain()).toEqual({ bufferedBytes: 30, fds: [4] });
    f.push(msg(2, 0), [5]);
    expect(f.next()).toBeUndefined();
    expect(f.drain()).toEqual({ bufferedBytes: 0, fds: [5] });
  });

  it('applies new limits from the next header', () => {
    const f = new MessageFramer({ maxMessageSize: 32, maxFdsPerMessage: 0 });
    f.push(msg(1, 40));
    expect(f.next()?.kind).toBe('error');
    f.setLimits({ maxMessageSize: 4096, maxFdsPerMessage: 1 });
    f.push(msg(2, 40), [3]);
    expect(f.next()).toMatchObject({ kind: 'message', message: { fds: [3] } });
  });

  it('rejects nonsensical limits', () => {
    expect(() => new MessageFramer({ maxMessageSize: 8, maxFdsPerMessage: 1 })).toThrow(/maxMessageSize/);
    expect(() => new MessageFramer({ maxMessageSize: 64, maxFdsPerMessage: -1 })).toThrow(/maxFdsPerMessage/);
  });
});
