/** `vfu-trace decode` and `stats`: one line per captured message, and per-command figures. */
import { commandName, describe, HEADER_SIZE, type MessageHeader } from '@vfu/protocol';
import type { CapturedMessage } from './read-capture';

/** The header fields of a captured message, read without validation (captures keep bad ones too). */
export function rawHeader(bytes: Uint8Array): MessageHeader | undefined {
  if (bytes.byteLength < HEADER_SIZE) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const flags = view.getUint32(8, true);
  const type = flags & 0xf;
  return {
    msgId: view.getUint16(0, true),
    command: view.getUint16(2, true),
    msgSize: view.getUint32(4, true),
    type: type === 1 ? 'reply' : 'command',
    noReply: (flags & 0x10) !== 0,
    error: (flags & 0x20) !== 0,
    errorNo: view.getUint32(12, true),
    flags,
  } as MessageHeader;
}

/** Which messages to show. */
export interface MessageFilter {
  /** Endpoint (interface) names. */
  endpoints?: readonly string[];
  /** Command names (`DMA_MAP`) or numbers. */
  commands?: readonly string[];
  connection?: number;
}

/** True when `m` passes `filter`. */
export function matchesFilter(m: CapturedMessage, filter: MessageFilter): boolean {
  if (filter.endpoints?.length && !filter.endpoints.includes(m.endpoint)) return false;
  if (filter.connection !== undefined && m.connection !== filter.connection) return false;
  if (filter.commands?.length) {
    const h = rawHeader(m.bytes);
    if (h === undefined) return false;
    const name = commandName(h.command);
    const wanted = filter.commands.map((c) => c.toUpperCase().replace(/^VFIO_USER_/, ''));
    if (!wanted.includes(name) && !wanted.includes(String(h.command))) return false;
  }
  return true;
}

/** `describe()`'s one-line summary of a captured message (or why it cannot be decoded). */
export function summarize(m: CapturedMessage): string {
  const header = rawHeader(m.bytes);
  if (header === undefined) return `SHORT message of ${m.bytes.byteLength} bytes`;
  if (m.truncated) {
    return `${commandName(header.command)} ${header.type === 'reply' ? 'reply' : 'request'} #0x${header.msgId.toString(16)} (${m.length} bytes, cut to ${m.bytes.byteLength} in the capture)`;
  }
  const fds = Array.from({ length: m.fds }, () => -1);
  const type = (header.flags & 0xf) > 1 ? undefined : header.type;
  if (type === undefined)
    return `${commandName(header.command)} message #0x${header.msgId.toString(16)} with type ${header.flags & 0xf} INVALID`;
  return describe({ header, payload: m.bytes.subarray(HEADER_SIZE), fds }).summary;
}

/** One decode line: `+SECONDS ENDPOINT#CONN c2s|s2c SUMMARY`. */
export function decodeLine(m: CapturedMessage, start: bigint): string {
  const dt = Number(m.timeMicros - start) / 1e6;
  return `${dt.toFixed(6).padStart(12)} ${m.endpoint}#${m.connection} ${m.direction} ${summarize(m)}`;
}

/** Figures of one command. */
export interface CommandStats {
  command: string;
  requests: number;
  replies: number;
  errors: number;
  /** Bytes of requests and of replies, headers included. */
  requestBytes: number;
  replyBytes: number;
  /** Request-to-reply latency in microseconds (undefined without a matched pair). */
  p50Micros: number | undefined;
  p99Micros: number | undefined;
}

function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

/** Per-command counts, bytes and latencies; replies are matched to requests by endpoint, connection, command and msg_id. */
export function captureStats(messages: readonly CapturedMessage[]): CommandStats[] {
  const by = new Map<number, { s: CommandStats; latencies: number[] }>();
  const open = new Map<string, bigint>();
  for (const m of messages) {
    const h = rawHeader(m.bytes);
    if (h === undefined) continue;
    let e = by.get(h.command);
    if (e === undefined) {
      e = {
        s: {
          command: commandName(h.command),
          requests: 0,
          replies: 0,
          errors: 0,
          requestBytes: 0,
          replyBytes: 0,
          p50Micros: undefined,
          p99Micros: undefined,
        },
        latencies: [],
      };
      by.set(h.command, e);
    }
    // A request's reply goes the other way on the same connection.
    const replyDirection = h.type === 'reply' ? m.direction : m.direction === 'c2s' ? 's2c' : 'c2s';
    const key = `${m.endpoint}\0${m.connection}\0${replyDirection}\0${h.command}\0${h.msgId}`;
    if (h.type === 'command') {
      e.s.requests++;
      e.s.requestBytes += m.length;
      if (!h.noReply) open.set(key, m.timeMicros);
    } else {
      e.s.replies++;
      e.s.replyBytes += m.length;
      if (h.error) e.s.errors++;
      const sent = open.get(key);
      if (sent !== undefined) {
        open.delete(key);
        e.latencies.push(Number(m.timeMicros - sent));
      }
    }
  }
  return [...by.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, { s, latencies }]) => {
      latencies.sort((a, b) => a - b);
      return { ...s, p50Micros: percentile(latencies, 50), p99Micros: percentile(latencies, 99) };
    });
}

/** The stats as a table. */
export function formatStats(stats: readonly CommandStats[]): string {
  const head = ['command', 'requests', 'replies', 'errors', 'req bytes', 'reply bytes', 'p50 us', 'p99 us'];
  const rows = stats.map((s) => [
    s.command,
    String(s.requests),
    String(s.replies),
    String(s.errors),
    String(s.requestBytes),
    String(s.replyBytes),
    s.p50Micros === undefined ? '-' : String(s.p50Micros),
    s.p99Micros === undefined ? '-' : String(s.p99Micros),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}
