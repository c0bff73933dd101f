/**
 * vfio-user messages as fuzz inputs, and the structure-aware mutations on them: a stream is a
 * list of records, each a control byte (how many fds go with it, of which kind, whether it is sent
 * in two pieces) followed by one message (16-byte header, then `msg_size - 16` payload bytes, cut
 * short at the end of the input). Mutations keep headers well formed while bodies change, swap in
 * whole valid messages of any command, and reorder, duplicate or drop records.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, HEADER_SIZE, HeaderFlags } from '@vfu/protocol';
import { loadVectorDir, recordPayload, SHARED_VECTORS_DIR, type VectorRecord } from '@vfu/test-utils';
import type { MutationContext } from './engine/mutate';
import { mutateBytes } from './engine/mutate';

/** Control byte: fds with the message (0-3). */
export const CONTROL_FD_COUNT = 0x03;
/** Control byte: the fds are eventfds rather than memfds. */
export const CONTROL_FD_EVENTFD = 0x04;
/** Control byte: the message is sent in two writes. */
export const CONTROL_SPLIT = 0x08;
/** Control byte: wait for this message's reply before sending the next. */
export const CONTROL_WAIT = 0x10;

/** One record of a stream input. */
export interface StreamRecord {
  control: number;
  /** The message bytes (header and payload), possibly shorter than its msg_size says. */
  bytes: Uint8Array;
}

/** A message captured in the golden vectors or a transcript: direction, bytes and fd count. */
export interface CapturedMessage {
  dir: 'c2s' | 's2c';
  bytes: Uint8Array;
  nfds: number;
}

/** Reads the little-endian msg_size of a header (0 when the header is short). */
export function msgSizeOf(bytes: Uint8Array): number {
  if (bytes.length < 8) return 0;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
}

/**
 * Cuts a stream input into records. A msg_size below the header or past the end of the input
 * takes the rest of the input, as the peer on the other side would see it.
 */
export function parseStream(input: Uint8Array): StreamRecord[] {
  const out: StreamRecord[] = [];
  let at = 0;
  while (at < input.length) {
    const control = input[at] as number;
    at++;
    const size = msgSizeOf(input.subarray(at, at + HEADER_SIZE));
    const end = size < HEADER_SIZE ? input.length : Math.min(input.length, at + size);
    out.push({ control, bytes: input.subarray(at, end) });
    at = end;
  }
  return out;
}

/** The inverse of {@link parseStream}. */
export function formatStream(records: readonly StreamRecord[]): Uint8Array {
  let n = 0;
  for (const r of records) n += 1 + r.bytes.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const r of records) {
    out[at++] = r.control;
    out.set(r.bytes, at);
    at += r.bytes.length;
  }
  return out;
}

/** Sets msg_size to the real length (a copy). */
export function fixSize(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  if (out.length >= 8) new DataView(out.buffer).setUint32(4, out.length, true);
  return out;
}

/** Repository root, from this file (tests/fuzz/src). */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Every message of the golden vectors (`../shared/vectors`, when present), of the protocol
 * package's representative fixture and of the server's checked-in transcripts.
 */
export function capturedMessages(): CapturedMessage[] {
  const out: CapturedMessage[] = [];
  const fromRecord = (r: VectorRecord) => {
    if (r.payload_truncated) return;
    const head = new Uint8Array(HEADER_SIZE);
    const v = new DataView(head.buffer);
    v.setUint16(0, r.msg_id, true);
    v.setUint16(2, r.cmd, true);
    v.setUint32(4, r.msg_size, true);
    v.setUint32(8, r.flags, true);
    v.setUint32(12, r.error, true);
    const payload = recordPayload(r);
    const bytes = new Uint8Array(HEADER_SIZE + payload.length);
    bytes.set(head);
    bytes.set(payload, HEADER_SIZE);
    out.push({ dir: r.dir, bytes, nfds: r.nfds });
  };
  if (existsSync(SHARED_VECTORS_DIR)) {
    for (const records of loadVectorDir(SHARED_VECTORS_DIR).values()) records.forEach(fromRecord);
  }
  const fixtures = `${REPO}packages/protocol/test/fixtures`;
  if (existsSync(fixtures))
    for (const records of loadVectorDir(fixtures).values()) records.forEach(fromRecord);
  const transcripts = `${REPO}packages/server/test/transcripts`;
  if (existsSync(transcripts)) {
    for (const name of readdirSync(transcripts).filter((n) => n.endsWith('.json'))) {
      const t = JSON.parse(readFileSync(`${transcripts}/${name}`, 'utf8')) as {
        messages?: { dir: 'c2s' | 's2c'; hex: string; nfds?: number }[];
      };
      for (const m of t.messages ?? []) {
        out.push({ dir: m.dir, bytes: Uint8Array.from(Buffer.from(m.hex, 'hex')), nfds: m.nfds ?? 0 });
      }
    }
  }
  return out;
}

const COMMANDS = Object.values(Command).filter((v): v is Command => typeof v === 'number');

/** Mutates one message: header fields kept consistent, or the body changed, or both. */
export function mutateMessage(
  bytes: Uint8Array,
  ctx: MutationContext,
  pool: readonly Uint8Array[],
): Uint8Array {
  const { rng } = ctx;
  switch (rng.below(8)) {
    case 0: {
      // Another command with this body.
      const out = fixSize(bytes.length >= HEADER_SIZE ? bytes : pool.length ? rng.pick(pool) : bytes);
      if (out.length >= 4)
        new DataView(out.buffer).setUint16(2, rng.oneIn(8) ? rng.below(0x10000) : rng.pick(COMMANDS), true);
      return out;
    }
    case 1: {
      // Other flags: command, reply, no-reply, error, reserved bits.
      const out = fixSize(bytes);
      if (out.length >= 12) {
        const flags = rng.pick([
          0,
          HeaderFlags.TypeReply,
          HeaderFlags.NoReply,
          HeaderFlags.TypeReply | HeaderFlags.Error,
          rng.below(16),
          1 << rng.below(32),
        ]);
        new DataView(out.buffer).setUint32(8, flags >>> 0, true);
      }
      return out;
    }
    case 2:
    case 3: {
      // The body mutated, the header kept and its size fixed.
      if (bytes.length < HEADER_SIZE) return fixSize(bytes);
      const body = mutateBytes(bytes.subarray(HEADER_SIZE), { ...ctx, maxLen: ctx.maxLen - HEADER_SIZE });
      const out = new Uint8Array(HEADER_SIZE + body.length);
      out.set(bytes.subarray(0, HEADER_SIZE));
      out.set(body, HEADER_SIZE);
      return fixSize(out);
    }
    case 4:
      // A whole valid message from the pool.
      return pool.length ? rng.pick(pool).slice() : bytes;
    case 5: {
      // The body of a pool message under this header.
      if (pool.length === 0 || bytes.length < HEADER_SIZE) return bytes;
      const donor = rng.pick(pool);
      const out = new Uint8Array(Math.max(HEADER_SIZE, donor.length));
      out.set(bytes.subarray(0, HEADER_SIZE));
      out.set(donor.subarray(HEADER_SIZE), HEADER_SIZE);
      return fixSize(out);
    }
    case 6: {
      // msg_size off by a little or a lot.
      const out = bytes.slice();
      if (out.length >= 8) {
        const v = new DataView(out.buffer);
        const cur = v.getUint32(4, true);
        v.setUint32(
          4,
          rng.oneIn(2) ? (cur + rng.below(33) - 16) >>> 0 : rng.pick([0, 15, 16, 17, 0xffff_ffff, 1 << 24]),
          true,
        );
      }
      return out;
    }
    default:
      return mutateBytes(bytes, ctx);
  }
}

/** Structure-aware mutation of a stream input: one record changed, added, removed or moved. */
export function mutateStream(
  input: Uint8Array,
  ctx: MutationContext,
  pool: readonly Uint8Array[],
): Uint8Array {
  const { rng } = ctx;
  const records = parseStream(input);
  const choice = records.length === 0 ? 0 : rng.below(6);
  const at = rng.below(records.length + 1);
  const i = Math.min(at, records.length - 1);
  switch (choice) {
    case 0: // insert a pool message
      if (pool.length) records.splice(at, 0, { control: rng.below(32), bytes: rng.pick(pool).slice() });
      break;
    case 1: // mutate one message
      records[i] = {
        control: (records[i] as StreamRecord).control,
        bytes: mutateMessage((records[i] as StreamRecord).bytes, ctx, pool),
      };
      break;
    case 2: // change the control byte
      records[i] = { control: rng.below(256), bytes: (records[i] as StreamRecord).bytes };
      break;
    case 3: // drop a record
      records.splice(i, 1);
      break;
    case 4: // duplicate a record
      records.splice(at, 0, records[i] as StreamRecord);
      break;
    default: {
      // splice in the records of another input
      const other = parseStream(ctx.other());
      if (other.length)
        records.splice(at, 0, ...other.slice(rng.below(other.length), rng.below(other.length) + 1));
      break;
    }
  }
  const out = formatStream(records);
  return out.length > ctx.maxLen ? out.subarray(0, ctx.maxLen) : out;
}
