import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  Command,
  commandName,
  decodeMessage,
  encodeMessage,
  type Message,
  MessageFramer,
  messageSize,
} from '../src/index';
import { anyMessage, COMMANDS, messagesOf } from './arbitraries';
import { framed } from './helpers';

/** What decoding adds: the JSON text of VERSION. Everything else must come back as given. */
function normalise(m: Message): unknown {
  if (m.kind !== 'error' && m.command === Command.Version) {
    const { json: _json, ...rest } = m.body as { json?: string };
    return { ...m, body: rest };
  }
  return m;
}

describe('decode(encode(m)) equals m', () => {
  for (const command of COMMANDS) {
    test.prop([messagesOf(command)], { numRuns: 150 })(`${commandName(command)}`, (m) => {
      const bytes = encodeMessage(m);
      expect(bytes.length).toBe(messageSize(m));
      const decoded = decodeMessage(framed(bytes, [...(m.kind !== 'error' ? (m.fds ?? []) : [])]));
      expect(normalise(decoded)).toEqual(normalise(m));
      // And the decoded message re-encodes to the same bytes.
      expect(encodeMessage(decoded)).toEqual(bytes);
    });
  }

  test.prop([
    fc.record({
      command: fc.integer({ min: 0, max: 0xffff }),
      msgId: fc.integer({ min: 0, max: 0xffff }),
      errorNo: fc.nat(),
    }),
  ])('error replies', (e) => {
    const m = { kind: 'error' as const, ...e };
    expect(decodeMessage(framed(encodeMessage(m)))).toEqual(m);
  });
});

describe('framing of message streams', () => {
  test.prop([fc.array(anyMessage, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 })], {
    numRuns: 200,
  })('any split of a stream yields the same messages and fds', (messages, cuts) => {
    const encoded = messages.map((m) => encodeMessage(m));
    const stream = new Uint8Array(encoded.reduce((n, b) => n + b.length, 0));
    const starts: number[] = [];
    let at = 0;
    for (const b of encoded) {
      starts.push(at);
      stream.set(b, at);
      at += b.length;
    }
    // Cut points, plus every message start so each message's fds ride with its first byte.
    const points = [
      ...new Set([0, ...starts, ...cuts.map((c) => c % (stream.length + 1)), stream.length]),
    ].sort((a, b) => a - b);
    const framer = new MessageFramer({ maxMessageSize: 1 << 22, maxFdsPerMessage: 64 });
    const out: Message[] = [];
    for (let i = 0; i + 1 < points.length; i++) {
      const from = points[i] as number;
      const idx = starts.indexOf(from);
      const m = idx >= 0 ? messages[idx] : undefined;
      framer.push(stream.slice(from, points[i + 1]), m && m.kind !== 'error' ? [...(m.fds ?? [])] : []);
      for (let e = framer.next(); e; e = framer.next()) {
        expect(e.kind).toBe('message');
        if (e.kind === 'message') out.push(decodeMessage(e.message));
      }
    }
    expect(out.map(normalise)).toEqual(messages.map(normalise));
  });
});
