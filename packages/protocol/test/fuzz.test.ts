import { join } from 'node:path';
import { loadVectorFile } from '@vfu/test-utils';
import { describe, expect, it } from 'vitest';
import {
  decodeHeader,
  decodeMessage,
  describe as describeMessage,
  encodeMessage,
  type FramedMessage,
  type FramerEvent,
  isProtocolError,
  MessageFramer,
} from '../src/index';
import { toHex } from './helpers';
import { FIXTURES_DIR, fakeFds, recordBytes } from './vectors';

/** Seeded PRNG (mulberry32): every run sees the same inputs unless VFU_FUZZ_SEED changes. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T,
  };
}

const SEED = Number(process.env.VFU_FUZZ_SEED ?? 0x5eed_f00d);
const ITERATIONS = 100_000;
const SEEDS = loadVectorFile(join(FIXTURES_DIR, 'representative.jsonl'))
  .filter((r) => !r.payload_truncated)
  .map((r) => ({ bytes: recordBytes(r), fds: fakeFds(r) }));

type Rng = ReturnType<typeof prng>;

/** A mutation of a valid message: bit flips, byte overwrites, truncation, extension, size edits. */
function mutate(rng: Rng, base: Uint8Array): Uint8Array {
  let b: Uint8Array = base.slice();
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    switch (rng.int(6)) {
      case 0:
        if (b.length > 0) {
          const at = rng.int(b.length);
          b[at] = (b[at] as number) ^ (1 << rng.int(8));
        }
        break;
      case 1:
        if (b.length > 0) b[rng.int(b.length)] = rng.pick([0, 1, 0x7f, 0x80, 0xff, rng.int(256)]);
        break;
      case 2:
        b = b.slice(0, rng.int(b.length + 1));
        break;
      case 3: {
        const extra = new Uint8Array(rng.int(40)).map(() => rng.int(256));
        const c = new Uint8Array(b.length + extra.length);
        c.set(b);
        c.set(extra, b.length);
        b = c;
        break;
      }
      case 4: {
        // Payload u32 fields (argsz, counts) are the interesting ones.
        if (b.length >= 20) {
          const at = 16 + 4 * rng.int((b.length - 16) >> 2);
          new DataView(b.buffer).setUint32(
            at,
            rng.pick([0, 1, 0xffff_ffff, 0x8000_0000, rng.int(2 ** 32)]),
            true,
          );
        }
        break;
      }
      default:
        break;
    }
  }
  // Mostly keep msg_size consistent so the decoders, not only the header checks, get exercised.
  if (b.length >= 16 && rng.next() < 0.8) new DataView(b.buffer).setUint32(4, b.length, true);
  return b;
}

function randomMessage(rng: Rng): Uint8Array {
  const len = 16 + rng.int(96);
  const b = new Uint8Array(len).map(() => rng.int(256));
  const v = new DataView(b.buffer);
  v.setUint16(2, rng.int(20));
  v.setUint32(4, len, true);
  v.setUint32(8, rng.pick([0, 1, 0x10, 0x21, rng.int(64)]), true);
  return b;
}

function fail(what: string, input: Uint8Array, e: unknown, i: number): never {
  throw new Error(
    `${what} threw a non-ProtocolError at iteration ${i} (VFU_FUZZ_SEED=${SEED}): ${String(e)}\ninput ${toHex(input)}`,
  );
}

/** Decodes and describes; returns whether decoding succeeded. Only ProtocolError may escape. */
function exercise(framed: FramedMessage, input: Uint8Array, i: number): boolean {
  let m: ReturnType<typeof decodeMessage> | undefined;
  try {
    m = decodeMessage(framed, { maxDataXferSize: 1 << 20 });
  } catch (e) {
    if (!isProtocolError(e)) fail('decodeMessage', input, e, i);
  }
  if (m !== undefined) {
    // Whatever decodes must encode again, and that encoding must decode to the same message.
    const bytes = encodeMessage(m);
    const again = decodeMessage({
      header: decodeHeader(bytes),
      payload: bytes.subarray(16),
      fds: framed.fds,
    });
    const bytes2 = encodeMessage(again);
    if (bytes2.length !== bytes.length || bytes2.some((x, k) => x !== bytes[k])) {
      throw new Error(`re-encoding is unstable (VFU_FUZZ_SEED=${SEED}, iteration ${i}): ${toHex(input)}`);
    }
  }
  try {
    describeMessage(framed);
  } catch (e) {
    fail('describe', input, e, i);
  }
  return m !== undefined;
}

// A fixed amount of work, not a time budget: on a loaded 2-core CI machine it may take a minute.
const FUZZ_TIMEOUT_MS = 180_000;

describe(`fuzzing (seed ${SEED})`, () => {
  it(
    `${ITERATIONS} random and mutated inputs only ever produce ProtocolError`,
    () => {
      const rng = prng(SEED);
      let decoded = 0;
      let rejected = 0;
      for (let i = 0; i < ITERATIONS; i++) {
        const seed = rng.pick(SEEDS);
        const input = rng.next() < 0.3 ? randomMessage(rng) : mutate(rng, seed.bytes);
        const fds = rng.next() < 0.2 ? [3, 4, 5].slice(0, rng.int(4)) : seed.fds;
        const framer = new MessageFramer({ maxMessageSize: 4096 + 64, maxFdsPerMessage: 4 });
        // Split at a random point to exercise reassembly as well.
        const cut = rng.int(input.length + 1);
        let events: FramerEvent[] = [];
        try {
          framer.push(input.subarray(0, cut), fds);
          framer.push(input.subarray(cut));
          for (let e = framer.next(); e; e = framer.next()) events.push(e);
        } catch (e) {
          fail('MessageFramer', input, e, i);
        }
        for (const e of events) {
          if (e.kind === 'message') {
            if (exercise(e.message, input, i)) decoded++;
            else rejected++;
          } else {
            rejected++;
            expect(isProtocolError(e.error)).toBe(true);
          }
        }
        events = [];
      }
      // Both outcomes must be well represented, or the fuzzer is not reaching the decoders.
      expect(decoded).toBeGreaterThan(ITERATIONS / 20);
      expect(rejected).toBeGreaterThan(ITERATIONS / 5);
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'never loses sync on a valid stream after a rejected message the framer can skip',
    () => {
      const rng = prng(SEED ^ 0xa5a5);
      const valid = SEEDS.filter((s) => s.bytes.length <= 512);
      for (let round = 0; round < 2000; round++) {
        const before = Array.from({ length: rng.int(3) }, () => rng.pick(valid));
        const after = Array.from({ length: 1 + rng.int(3) }, () => rng.pick(valid));
        const bad = rng.pick(valid).bytes.slice();
        const v = new DataView(bad.buffer);
        let badFds: number[] = [];
        switch (rng.int(3)) {
          case 0: // Oversize: a body the framer skips without buffering.
            v.setUint32(4, 600 + rng.int(5000), true);
            break;
          case 1: // Invalid type bits or reserved flags.
            v.setUint32(8, rng.pick([2, 3, 0xf, 0x40, 0x80000000]), true);
            break;
          default: // More fds than allowed.
            badFds = [90, 91, 92, 93, 94];
        }
        const badBytes =
          v.getUint32(4, true) > bad.length
            ? new Uint8Array(v.getUint32(4, true)).map((_, i) =>
                i < bad.length ? (bad[i] as number) : rng.int(256),
              )
            : bad;
        const parts = [...before, { bytes: badBytes, fds: badFds }, ...after];
        const framer = new MessageFramer({ maxMessageSize: 512, maxFdsPerMessage: 4 });
        const events: FramerEvent[] = [];
        for (const p of parts) {
          // Each message in one or two random pieces; its fds with its first piece.
          const cut = rng.int(p.bytes.length + 1);
          framer.push(p.bytes.subarray(0, cut), p.fds);
          framer.push(p.bytes.subarray(cut));
          for (let e = framer.next(); e; e = framer.next()) events.push(e);
        }
        expect(events.length).toBe(parts.length);
        const errorAt = before.length;
        events.forEach((e, i) => {
          if (i === errorAt) {
            expect(e.kind).toBe('error');
            if (e.kind === 'error') {
              expect(e.resync).toBe(true);
              expect(e.fds).toEqual(badFds);
            }
          } else {
            expect(e.kind).toBe('message');
            const src = parts[i] as { bytes: Uint8Array; fds: number[] };
            if (e.kind === 'message') {
              expect(toHex(e.message.payload)).toBe(toHex(src.bytes.subarray(16)));
              expect(e.message.fds).toEqual(src.fds);
            }
          }
        });
      }
    },
    FUZZ_TIMEOUT_MS,
  );
});
