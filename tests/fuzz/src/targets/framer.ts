/**
 * The framer with fds: a byte stream cut into chunks at input-chosen places, fds attached to
 * chunks. Invariants: every fd pushed comes back exactly once (in a message, an error event or
 * the drain); messages respect the limits and carry msg_size - 16 payload bytes; bytes are
 * conserved; and the events are those of the same stream pushed in one piece without fds.
 */
import { type FramerEvent, type FramerLimits, HEADER_SIZE, MessageFramer } from '@vfu/protocol';
import { Rng } from '../engine/rng';
import { Finding, type FuzzTarget } from '../engine/target';
import {
  CONTROL_FD_COUNT,
  CONTROL_SPLIT,
  capturedMessages,
  formatStream,
  msgSizeOf,
  mutateStream,
  parseStream,
  type StreamRecord,
} from '../vfio-user-input';

/** Input: 2 bytes of limits, 4 bytes seeding the chunk cuts, then records (control byte + message). */
const PREFIX = 6;

/** One event as compared between runs: `detail` undefined matches anything. */
interface EventView {
  key: string;
  detail: string | undefined;
}

interface Outcome {
  events: EventView[];
  bytes: number;
  lost: boolean;
}

function view(e: FramerEvent): EventView {
  if (e.kind === 'message') {
    const { header, payload } = e.message;
    return {
      key: `message ${header.msgId}/${header.command}/${header.msgSize}/${header.type}`,
      detail: Buffer.from(payload).toString('hex'),
    };
  }
  const h = e.header;
  // Too many fds in a run with fds is a message in the run without.
  if (e.error.code === 'too-many-fds' && h !== undefined) {
    return { key: `message ${h.msgId}/${h.command}/${h.msgSize}/${h.type}`, detail: undefined };
  }
  return {
    key: `error ${e.error.code} ${h?.msgId}/${h?.command}/${h?.msgSize} resync=${e.resync}`,
    detail: '',
  };
}

/** Feeds `records` to a framer, whole (one push, no fds) or as the records and `cuts` say. */
function feed(records: readonly StreamRecord[], limits: FramerLimits, cuts: Rng | undefined): Outcome {
  const framer = new MessageFramer(limits);
  const events: EventView[] = [];
  const fds: number[] = [];
  let bytes = 0;
  let lost = false;
  let nextFd = 1000;
  const drainEvents = () => {
    for (let e = framer.next(); e !== undefined; e = framer.next()) {
      if (e.kind === 'message') {
        const { header, payload } = e.message;
        if (payload.length !== header.msgSize - HEADER_SIZE) {
          throw new Finding(`message of msg_size ${header.msgSize} with ${payload.length} payload bytes`);
        }
        if (header.msgSize > limits.maxMessageSize) {
          throw new Finding(`message of ${header.msgSize} bytes above the limit ${limits.maxMessageSize}`);
        }
        if (e.message.fds.length > limits.maxFdsPerMessage) {
          throw new Finding(`${e.message.fds.length} fds above the limit ${limits.maxFdsPerMessage}`);
        }
        fds.push(...e.message.fds);
        bytes += header.msgSize;
      } else {
        fds.push(...e.fds);
        if (e.resync) bytes += e.header?.msgSize ?? 0;
        else lost = true;
      }
      events.push(view(e));
    }
  };
  const total = records.reduce((n, r) => n + r.bytes.length, 0);
  if (cuts === undefined) {
    framer.push(Buffer.concat(records.map((r) => r.bytes)));
    drainEvents();
  } else {
    for (const r of records) {
      const attached = Array.from({ length: r.control & CONTROL_FD_COUNT }, () => nextFd++);
      if ((r.control & CONTROL_SPLIT) === 0 || r.bytes.length < 2) {
        framer.push(r.bytes, attached);
        drainEvents();
        continue;
      }
      let at = 0;
      while (at < r.bytes.length) {
        const n = Math.min(r.bytes.length - at, 1 + (cuts.oneIn(3) ? cuts.below(4) : cuts.below(32)));
        framer.push(r.bytes.subarray(at, at + n), at === 0 ? attached : cuts.oneIn(8) ? [nextFd++] : []);
        at += n;
        drainEvents();
      }
    }
  }
  const drained = framer.drain();
  fds.push(...drained.fds);
  if (!lost) bytes += drained.bufferedBytes;
  const sent = nextFd - 1000;
  const sorted = [...fds].sort((a, b) => a - b);
  if (sorted.length !== sent || sorted.some((fd, i) => fd !== 1000 + i)) {
    throw new Finding(`fds not handed back exactly once: ${sent} pushed, got [${sorted.join(',')}]`);
  }
  if (!lost && bytes !== total) {
    // Only a rejected message still being skipped at the end may be unaccounted for (its bytes
    // are dropped as they come, so the drain does not count them).
    const tail = Buffer.concat(records.map((r) => r.bytes)).subarray(bytes);
    const size = msgSizeOf(tail);
    if (bytes > total || tail.length < HEADER_SIZE || size <= tail.length) {
      throw new Finding(`${total} bytes pushed, ${bytes} accounted for`);
    }
  }
  return { events, bytes, lost };
}

export function framerTarget(): FuzzTarget {
  const captured = capturedMessages().filter((c) => c.dir === 'c2s');
  const pool = captured.map((c) => c.bytes);
  return {
    name: 'framer',
    description: 'MessageFramer fed any split with fds; fds and bytes conserved, split-independent',
    scope: ['/packages/protocol/src/framer', '/packages/protocol/src/header'],
    maxLen: 2048,
    stateless: true,
    seeds() {
      const seeds: Uint8Array[] = [];
      for (let i = 0; i + 4 <= captured.length; i += 4) {
        const records = captured.slice(i, i + 4).map((c, j) => ({ control: (j * 5) & 0x0b, bytes: c.bytes }));
        seeds.push(
          Uint8Array.from(Buffer.concat([Buffer.from([0xff, 8, i & 0xff, 1, 2, 3]), formatStream(records)])),
        );
      }
      return seeds;
    },
    run(input) {
      if (input.length < PREFIX) return;
      // Limits of 16 + b0 * 8 bytes and b1 & 7 fds make the skip and fd-limit paths reachable.
      const limits = {
        maxMessageSize: HEADER_SIZE + (input[0] as number) * 8,
        maxFdsPerMessage: (input[1] as number) & 7,
      };
      const seed = new DataView(input.buffer, input.byteOffset + 2, 4).getUint32(0, true);
      const records = parseStream(input.subarray(PREFIX));
      const split = feed(records, limits, new Rng(seed));
      const whole = feed(records, limits, undefined);
      const same =
        split.events.length === whole.events.length &&
        split.events.every((e, i) => {
          const w = whole.events[i] as EventView;
          return (
            e.key === w.key && (e.detail === undefined || w.detail === undefined || e.detail === w.detail)
          );
        });
      if (!same) {
        const show = (o: Outcome) => o.events.map((e) => e.key).join('; ');
        throw new Finding(
          `split and unsplit streams give different events: ${show(split)} vs ${show(whole)}`,
        );
      }
    },
    mutate(input, ctx) {
      if (input.length < PREFIX) return undefined;
      if (ctx.rng.oneIn(8)) {
        const out = input.slice();
        out[ctx.rng.below(PREFIX)] = ctx.rng.below(256);
        return out;
      }
      const body = mutateStream(input.subarray(PREFIX), { ...ctx, maxLen: ctx.maxLen - PREFIX }, pool);
      return Uint8Array.from(Buffer.concat([input.subarray(0, PREFIX), body]));
    },
  };
}
