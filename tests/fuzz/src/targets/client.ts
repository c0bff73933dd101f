/**
 * The client's reply handling: VfioUserClient talks to a hostile server over a socketpair. Each
 * request it sends is answered by the next message of the input (msg_id and command patched to
 * match unless the control byte says otherwise), server commands (DMA_READ/WRITE) may come first,
 * fds (memfds, eventfds) ride along. After the handshake the client reads and writes config
 * space and a BAR, resets and enables interrupts. Invariants: every call settles, with a value of
 * the promised shape or a ClientError / VfioUserReplyError; nothing hangs; after close() every fd
 * the server sent is closed.
 */
import { VfioUserClient as Client, isClientError, VfioPciIrq, type VfioUserClient } from '@vfu/client';
import { Command, HEADER_SIZE, HeaderFlags } from '@vfu/protocol';
import { createMemfd, EventFd, type OwnedFd, UnixSocket } from '@vfu/sys';
import { leakedFds, ownFds } from '@vfu/test-utils';
import { Channel } from '@vfu/transport';
import { Finding, type FuzzTarget } from '../engine/target';
import { RawPeer } from '../raw-peer';
import {
  CONTROL_FD_COUNT,
  CONTROL_FD_EVENTFD,
  capturedMessages,
  formatStream,
  mutateStream,
  parseStream,
  type StreamRecord,
} from '../vfio-user-input';

/** Control byte: send the message as is (no msg_id/command patching). */
const CONTROL_RAW = 0x20;
/** How long every call may take in all. */
const SETTLE_MS = 3000;

function expectTyped(e: unknown, what: string): void {
  if (isClientError(e)) return;
  throw new Finding(`${what} failed with something other than a ClientError: ${String(e)}`, { cause: e });
}

async function conversation(input: Uint8Array): Promise<void> {
  const records = parseStream(input);
  const [ours, theirs] = UnixSocket.pair();
  const peer = new RawPeer(theirs);
  let next = 0;
  const take = (): StreamRecord | undefined => records[next++];
  const sendRecord = async (r: StreamRecord, msgId: number, command: number) => {
    const bytes = r.bytes.slice();
    if ((r.control & CONTROL_RAW) === 0 && bytes.length >= 4) {
      const v = new DataView(bytes.buffer);
      v.setUint16(0, msgId, true);
      v.setUint16(2, command, true);
    }
    const attached: (OwnedFd | EventFd)[] = [];
    for (let i = 0; i < (r.control & CONTROL_FD_COUNT); i++) {
      attached.push(
        (r.control & CONTROL_FD_EVENTFD) !== 0
          ? EventFd.create()
          : createMemfd('fuzz-bar', { size: 1 << 16 }),
      );
    }
    await peer.send(bytes, attached);
    for (const a of attached) a.close();
  };
  // A client waiting for bytes that never come (a reply cut short) would wait out one request
  // timeout per call: hang up once it has been idle a while, so later calls fail at once.
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(() => peer.close(), 25);
  };
  armIdle();
  peer.onMessage = (m) => {
    armIdle();
    const v = new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
    const flags = v.getUint32(8, true);
    if ((flags & HeaderFlags.TypeMask) !== 0 || (flags & HeaderFlags.NoReply) !== 0) return;
    const msgId = v.getUint16(0, true);
    const command = v.getUint16(2, true);
    void (async () => {
      // Up to two server commands (DMA_READ/WRITE to the client) before the reply.
      for (let i = 0; i < 3; i++) {
        const r = take();
        if (r === undefined) {
          peer.close();
          return;
        }
        const isCommand =
          r.bytes.length >= HEADER_SIZE &&
          (new DataView(r.bytes.buffer, r.bytes.byteOffset).getUint32(8, true) & HeaderFlags.TypeMask) === 0;
        if (isCommand && i < 2) {
          await sendRecord({ control: r.control | CONTROL_RAW, bytes: r.bytes }, 0, 0);
          continue;
        }
        await sendRecord(r, msgId, command);
        return;
      }
    })();
  };
  let client: VfioUserClient | undefined;
  const steps = async () => {
    try {
      client = await Client.fromChannel(new Channel(ours), { requestTimeoutMs: 500 });
    } catch (e) {
      expectTyped(e, 'fromChannel');
      return;
    }
    const c = client;
    const attempt = async (what: string, fn: () => Promise<unknown>, check?: (v: unknown) => boolean) => {
      try {
        const v = await fn();
        if (check !== undefined && !check(v)) throw new Finding(`${what} resolved with ${String(v)}`);
      } catch (e) {
        if (e instanceof Finding) throw e;
        expectTyped(e, what);
      }
    };
    const bytes = (n: number) => (v: unknown) => v instanceof Uint8Array && v.length === n;
    await attempt('regionRead(config)', () => c.regionRead(7, 0, 4), bytes(4));
    await attempt('regionWrite(config)', () => c.regionWrite(7, 4, Uint8Array.of(6, 0)));
    await attempt('regionRead(BAR0)', () => c.regionRead(0, 8, 8), bytes(8));
    await attempt('regionWriteMulti', () =>
      c.regionWriteMulti([{ region: 0, offset: 0, data: Uint8Array.of(1, 2, 3, 4) }]),
    );
    await attempt('enableIrq(MSI-X)', () => c.enableIrq(VfioPciIrq.Msix, { count: 2 }));
    await attempt('triggerIrq', () => c.triggerIrq(VfioPciIrq.Msix, 0, 1));
    await attempt('reset', () => c.reset({ timeoutMs: 500 }));
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), SETTLE_MS)));
    if ((await Promise.race([steps().then(() => 'done' as const), hang])) === 'hang') {
      throw new Finding(`client calls did not settle within ${SETTLE_MS} ms`);
    }
  } finally {
    clearTimeout(timer);
    clearTimeout(idle);
    await (client as VfioUserClient | undefined)?.close().catch((e: unknown) => expectTyped(e, 'close'));
    if (client === undefined && !ours.closed) ours.close();
    peer.close();
  }
}

export function clientTarget(): FuzzTarget {
  const captured = capturedMessages().filter((c) => c.dir === 's2c');
  const pool = captured.map((c) => c.bytes);
  let baseline: ReadonlyMap<number, string> = new Map();
  const noLeaks = async () => {
    for (let i = 0; i < 20; i++) {
      if (leakedFds(baseline).length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const leaked = leakedFds(baseline).map(([fd, target]) => `${fd} -> ${target}`);
    throw new Finding(`fds leaked: ${leaked.join(', ')}`);
  };
  return {
    name: 'client',
    description: 'VfioUserClient against a hostile server; calls settle typed, no hang, no fd leak',
    scope: ['/packages/client/src/', '/packages/transport/src/', '/packages/protocol/src/'],
    maxLen: 2048,
    // Each run is a new client on a new socketpair.
    stateless: true,
    seeds() {
      // The replies of each captured session, in order: the captured server's answers to a client.
      const seeds: Uint8Array[] = [];
      for (let i = 0; i < captured.length; i += 12) {
        const records = captured
          .slice(i, i + 12)
          .map((c) => ({ control: Math.min(c.nfds, 3), bytes: c.bytes }));
        const version = captured.find((c) => c.bytes[2] === Command.Version);
        if (version !== undefined) records.unshift({ control: 0, bytes: version.bytes });
        seeds.push(formatStream(records));
      }
      return seeds;
    },
    async setup() {
      baseline = ownFds();
    },
    async run(input) {
      await conversation(input);
      await noLeaks();
    },
    async check() {
      await noLeaks();
    },
    mutate(input, ctx) {
      return mutateStream(input, ctx, pool);
    },
  };
}
