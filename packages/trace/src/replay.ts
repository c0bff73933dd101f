/**
 * `vfu-trace replay FILE --server SOCKET`: plays the client side of one captured connection against
 * a server and reports the first reply that differs from the capture. Fields that legitimately
 * change are not compared: msg_id (the replaying channel picks its own) and the fds themselves
 * (only their number). What a capture cannot hold is stood in for: the memory behind a DMA_MAP fd
 * is a zeroed memfd of the mapped size, and SET_IRQS eventfds are fresh eventfds; a session whose
 * replies depend on that memory's contents should be captured without fds (DMA through messages).
 * DMA_READ/DMA_WRITE the server sends are answered with the captured client replies, in order.
 */
import { Command, commandName, HEADER_SIZE } from '@vfu/protocol';
import { createMemfd, EventFd, type OwnedFd } from '@vfu/sys';
import { type Channel, type ChannelMessage, connect, isTransportError } from '@vfu/transport';
import { rawHeader, summarize } from './decode';
import { TraceError } from './errors';
import type { CapturedMessage } from './read-capture';

/** Which captured connection to replay. */
export interface ReplaySelection {
  /** Endpoint (interface) name (default: that of the first message). */
  endpoint?: string;
  /** Connection number (default: the first connection of the endpoint). */
  connection?: number;
}

/** A reply that differs from the capture. */
export interface ReplayDifference {
  /** Capture index of the command whose reply differs. */
  index: number;
  command: string;
  expected: string;
  actual: string;
}

/** The outcome of a replay. */
export interface ReplayResult {
  endpoint: string;
  connection: number;
  /** Commands sent. */
  commands: number;
  /** Replies compared and equal. */
  matched: number;
  /** Server-to-client commands answered from the capture. */
  served: number;
  /** The first difference; undefined when every reply matched. */
  difference: ReplayDifference | undefined;
}

/** The messages of one connection, and which it was. */
export function selectConnection(
  messages: readonly CapturedMessage[],
  selection: ReplaySelection = {},
): { endpoint: string; connection: number; messages: CapturedMessage[] } {
  const endpoint = selection.endpoint ?? messages[0]?.endpoint;
  if (endpoint === undefined) throw new TraceError('invalid-argument', 'the capture holds no message');
  const ofEndpoint = messages.filter((m) => m.endpoint === endpoint);
  const connection = selection.connection ?? ofEndpoint[0]?.connection;
  const selected = ofEndpoint.filter((m) => m.connection === connection);
  if (connection === undefined || selected.length === 0) {
    throw new TraceError(
      'invalid-argument',
      `the capture has no messages of endpoint ${endpoint}${selection.connection === undefined ? '' : ` connection ${selection.connection}`}`,
    );
  }
  return { endpoint, connection, messages: selected };
}

function u64(bytes: Uint8Array, at: number): number {
  if (bytes.byteLength < at + 8) return 0;
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at, true));
}

/** Stand-ins for the fds a captured command carried. */
function standInFds(command: number, payload: Uint8Array, count: number): OwnedFd[] | EventFd[] {
  if (count === 0) return [];
  if (command === Command.DmaMap) {
    const size = u64(payload, 8) + u64(payload, 24);
    return [createMemfd('vfu-trace-replay', { size: Math.max(4096, Math.min(size, 2 ** 40)) })];
  }
  return Array.from({ length: count }, () => EventFd.create());
}

/** What a reply looked like, for comparison: its outcome, payload and fd count, without msg_id. */
function replyKey(error: boolean, errorNo: number, payload: Uint8Array, fds: number): string {
  if (error) return `error errno=${errorNo}`;
  return `ok ${Buffer.from(payload).toString('hex')} fds=${fds}`;
}

/** The captured reply to the command at `at` (same direction back, command and msg_id). */
function capturedReply(messages: readonly CapturedMessage[], at: number): CapturedMessage | undefined {
  const m = messages[at] as CapturedMessage;
  const h = rawHeader(m.bytes);
  if (h === undefined) return undefined;
  for (let i = at + 1; i < messages.length; i++) {
    const r = messages[i] as CapturedMessage;
    const rh = rawHeader(r.bytes);
    if (
      r.direction !== m.direction &&
      rh?.type === 'reply' &&
      rh.msgId === h.msgId &&
      rh.command === h.command
    )
      return r;
  }
  return undefined;
}

/** Options of {@link replayAgainstServer}. */
export interface ReplayOptions extends ReplaySelection {
  /** Timeout of each request (default 5000 ms). */
  timeoutMs?: number;
  /**
   * Keep every gap between two commands at least as long as captured (default true), so a device
   * that works in the background (a timer, a DMA engine) has had as long as it had when captured
   * before it is polled; false sends as fast as replies come.
   */
  pace?: boolean;
}

/** Replays one captured connection's client side against the server at `socketPath`. */
export async function replayAgainstServer(
  all: readonly CapturedMessage[],
  socketPath: string,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const { endpoint, connection, messages } = selectConnection(all, options);
  const result: ReplayResult = {
    endpoint,
    connection,
    commands: 0,
    matched: 0,
    served: 0,
    difference: undefined,
  };
  const channel: Channel = await connect(socketPath, {
    requestTimeoutMs: options.timeoutMs ?? 5000,
    receiveLimits: { maxMessageSize: 64 * 1024 * 1024 + 64, maxFdsPerMessage: 16 },
    sendLimits: { maxMessageSize: 64 * 1024 * 1024 + 64, maxFdsPerMessage: 16 },
  });
  // Server-to-client commands in capture order, each with its captured reply.
  const serverCommands = messages
    .map((m, i) => ({ m, i }))
    .filter(({ m }) => m.direction === 's2c' && rawHeader(m.bytes)?.type === 'command');
  channel.onRequest((request: ChannelMessage) => {
    const next = serverCommands.findIndex(({ m }) => rawHeader(m.bytes)?.command === request.header.command);
    const found = next < 0 ? undefined : serverCommands.splice(next, 1)[0];
    const reply = found === undefined ? undefined : capturedReply(messages, found.i);
    if (reply === undefined) {
      result.difference ??= {
        index: found?.i ?? -1,
        command: commandName(request.header.command),
        expected: 'no such server-to-client command in the capture',
        actual: `${commandName(request.header.command)} from the server`,
      };
      throw Object.assign(new Error('not in the capture'), { errno: 22 });
    }
    result.served++;
    const rh = rawHeader(reply.bytes);
    if (rh?.error) throw Object.assign(new Error('captured error reply'), { errno: rh.errorNo || 22 });
    return { payload: reply.bytes.subarray(HEADER_SIZE) };
  });
  const pace = options.pace ?? true;
  // The previous command's captured time and when it was replayed: each gap is kept at least as
  // long as captured, even when the replay fell behind (a slow connect) before it.
  let previous: { captured: bigint; sent: number } | undefined;
  try {
    for (let i = 0; i < messages.length && result.difference === undefined; i++) {
      const m = messages[i] as CapturedMessage;
      const h = rawHeader(m.bytes);
      if (m.direction !== 'c2s' || h === undefined || h.type !== 'command') continue;
      if (pace && previous !== undefined) {
        const due = previous.sent + Number(m.timeMicros - previous.captured) / 1000;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      previous = { captured: m.timeMicros, sent: performance.now() };
      if ((h.flags & 0xf) !== 0 || m.truncated || h.msgSize !== m.bytes.byteLength) {
        throw new TraceError(
          'replay-failed',
          `message ${m.index} (${summarize(m)}) is malformed or cut short in the capture; replay sends only well-formed commands`,
        );
      }
      const payload = m.bytes.subarray(HEADER_SIZE);
      const fds = standInFds(h.command, payload, m.fds);
      result.commands++;
      try {
        if (h.noReply) {
          await channel.post(h.command, payload, { fds });
          continue;
        }
        const expected = capturedReply(messages, i);
        let actual: string;
        let actualText: string;
        try {
          const reply = await channel.request(h.command, payload, { fds, acceptFds: 16 });
          const got = reply.takeFds();
          for (const fd of got) fd.close();
          actual = replyKey(false, 0, reply.payload, got.length);
          actualText = `reply ${Buffer.from(reply.payload).toString('hex') || '(empty)'}${got.length ? ` +${got.length} fds` : ''}`;
        } catch (e) {
          if (!isTransportError(e) || e.code !== 'ERROR_REPLY') throw e;
          actual = replyKey(true, e.errno ?? 0, new Uint8Array(0), 0);
          actualText = `error reply errno ${e.errno}`;
        }
        if (expected === undefined) continue; // the capture ended before this reply
        const eh = rawHeader(expected.bytes) as NonNullable<ReturnType<typeof rawHeader>>;
        const wanted = replyKey(eh.error, eh.errorNo, expected.bytes.subarray(HEADER_SIZE), expected.fds);
        if (wanted === actual) {
          result.matched++;
          continue;
        }
        result.difference = {
          index: m.index,
          command: commandName(h.command),
          expected: summarize(expected),
          actual: actualText,
        };
      } finally {
        for (const fd of fds) fd.close();
      }
    }
  } finally {
    await channel.close();
  }
  return result;
}
