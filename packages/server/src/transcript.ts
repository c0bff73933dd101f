/**
 * Message transcripts: a recorded exchange (a JSON list of `{ dir, hex }` messages) replayed
 * against an endpoint, checking each reply. Interop bugs (a QEMU or libvfio-user peer sending
 * something unexpected) are recorded this way and kept as regression tests.
 *
 * Replay sends every client-to-server command in order, waits for its reply, and compares the
 * reply with the next recorded server-to-client reply of the same msg_id and command. Message ids
 * are not compared (the replaying connection picks its own). Commands with No_reply are posted.
 */
import { decodeHeader, encodeHeader, HEADER_SIZE } from '@vfu/protocol';
import type { Channel } from '@vfu/transport';
import { ServerError } from './errors';

/** One recorded message. */
export interface TranscriptMessage {
  /** Client to server, or server to client. */
  dir: 'c2s' | 's2c';
  /** The whole message, header included, as hex. */
  hex: string;
  /**
   * What to compare in a recorded reply (msg_id never): every byte (`exact`, the default), the
   * header only (`header`: command, size, flags, errno), or only the outcome (`status`: command,
   * flags and errno, for replies whose size may legitimately differ, such as VERSION's JSON).
   */
  match?: 'exact' | 'header' | 'status';
  /** Free text kept with the record. */
  note?: string;
}

/** A recorded exchange, in order. */
export type Transcript = readonly TranscriptMessage[];

/** A reply that differed from the recording. */
export interface ReplayMismatch {
  /** Index of the recorded reply in the transcript. */
  index: number;
  expected: string;
  actual: string;
  note?: string;
}

/** What replay needs from a client connection (a `@vfu/transport` Channel fits). */
export type ReplayConnection = Pick<Channel, 'request' | 'post'>;

/**
 * Replays the client messages of `transcript` over `connection` and returns the replies that
 * differ from the recording (empty: the endpoint behaves as recorded). Throws `invalid-option`
 * for a malformed transcript.
 */
export async function replayTranscript(
  connection: ReplayConnection,
  transcript: Transcript,
): Promise<ReplayMismatch[]> {
  const messages = transcript.map((m, i) => ({ ...m, bytes: parseHex(m.hex, i) }));
  const used = new Set<number>();
  const mismatches: ReplayMismatch[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.dir !== 'c2s') continue;
    const header = decodeHeader(m.bytes);
    if (header.type !== 'command') continue;
    const payload = m.bytes.subarray(HEADER_SIZE);
    if (header.noReply) {
      await connection.post(header.command, payload);
      continue;
    }
    let actual: Uint8Array;
    try {
      const reply = await connection.request(header.command, payload, { acceptFds: 16 });
      for (const fd of reply.takeFds()) fd.close();
      actual = concat(
        encodeHeader({
          msgId: header.msgId,
          command: reply.header.command,
          msgSize: HEADER_SIZE + reply.payload.length,
          type: 'reply',
        }),
        reply.payload,
      );
    } catch (e) {
      const errno = (e as { code?: unknown; errno?: number }).errno;
      if ((e as { code?: unknown }).code !== 'ERROR_REPLY' || errno === undefined) throw e;
      actual = encodeHeader({
        msgId: header.msgId,
        command: header.command,
        msgSize: HEADER_SIZE,
        type: 'reply',
        error: true,
        errorNo: errno,
      });
    }
    const j = messages.findIndex((r, k) => {
      if (k <= i || used.has(k) || r.dir !== 's2c' || r.bytes.length < HEADER_SIZE) return false;
      const h = decodeHeader(r.bytes);
      return h.type === 'reply' && h.msgId === header.msgId && h.command === header.command;
    });
    if (j < 0) continue; // nothing recorded for it: not compared
    used.add(j);
    const expected = messages[j]!;
    const a = toHex(comparable(actual, expected.match));
    const b = toHex(comparable(expected.bytes, expected.match));
    if (a !== b) {
      mismatches.push({
        index: j,
        expected: b,
        actual: a,
        ...(expected.note ? { note: expected.note } : {}),
      });
    }
  }
  return mismatches;
}

/** The bytes of a reply that `match` compares, msg_id zeroed. */
function comparable(bytes: Uint8Array, match: TranscriptMessage['match']): Uint8Array {
  const out = bytes.slice(0, match === undefined || match === 'exact' ? bytes.length : HEADER_SIZE);
  out[0] = 0;
  out[1] = 0;
  if (match === 'status') out.fill(0, 4, 8); // msg_size
  return out;
}

function parseHex(hex: string, index: number): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new ServerError(
      'invalid-option',
      `transcript message ${index}: hex is not an even run of hex digits`,
    );
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  if (out.length < HEADER_SIZE) {
    throw new ServerError('invalid-option', `transcript message ${index}: shorter than a header`);
  }
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
