/**
 * The server session: a byte stream of messages with fds (memfds, eventfds) sent over a real
 * socketpair to a VfioUserServer endpoint with a zoo device behind it, while a second endpoint
 * serves a well-behaved client. Invariants: every command that wants a reply gets exactly one,
 * well formed (it decodes, matches the msg_id and command of a request, an error reply carries
 * no payload), unless the server closes the connection; nothing is left hanging; after the client
 * hangs up the endpoint frees the connection and every fd it received (counted in /proc/self/fd);
 * the other endpoint keeps answering correctly.
 */
import { VfioUserClient } from '@vfu/client';
import { registerZooDevices } from '@vfu/devices';
import { DeviceTree, DeviceTypeRegistry } from '@vfu/pci';
import {
  Command,
  decodeHeader,
  decodeMessage,
  Errno,
  encodeMessage,
  HEADER_SIZE,
  HeaderFlags,
  type Message,
} from '@vfu/protocol';
import { VfioUserServer } from '@vfu/server';
import { createMemfd, EventFd, type OwnedFd, UnixSocket } from '@vfu/sys';
import { leakedFds, ownFds } from '@vfu/test-utils';
import { Channel, channelPair } from '@vfu/transport';
import { Finding, type FuzzTarget } from '../engine/target';
import { HEAP_GROWTH_LIMIT, liveHeapBytes } from '../heap';
import { memoryBlockBackend } from '../memory-backend';
import { type PeerMessage, RawPeer } from '../raw-peer';
import {
  CONTROL_FD_COUNT,
  CONTROL_FD_EVENTFD,
  CONTROL_SPLIT,
  CONTROL_WAIT,
  capturedMessages,
  formatStream,
  mutateStream,
  parseStream,
} from '../vfio-user-input';

/** Devices served to the fuzzed client, with their properties; the first input byte picks one. */
const DEVICES: readonly [driver: string, props: Record<string, unknown>][] = [
  ['edu', {}],
  ['pci-testdev', {}],
  ['pci-serial', {}],
  ['pci-idio-16', {}],
  ['nvme', { drive: 'd0', serial: 'fuzz' }],
];
/** How long the server gets to answer everything or hang up. */
const SETTLE_MS = 3000;

const VERSION_REQUEST = encodeMessage({
  kind: 'request',
  command: Command.Version,
  msgId: 1,
  body: { major: 0, minor: 2, capabilities: { maxMsgFds: 8, maxDataXferSize: 1 << 20 } },
});

interface Expected {
  key: string;
  /** Outstanding replies with this key. */
  count: number;
}

/** Runs one input against `server`; throws a Finding on a broken invariant. */
async function session(server: VfioUserServer, input: Uint8Array): Promise<void> {
  const records = parseStream(input.subarray(1));
  const [serverSide, clientSide] = UnixSocket.pair();
  let onGone: () => void = () => {};
  const gone = new Promise<void>((resolve) => {
    onGone = () => {
      server.off('client-disconnected', onGone);
      resolve();
    };
    server.on('client-disconnected', onGone);
  });
  server.attach(new Channel(serverSide));
  const peer = new RawPeer(clientSide);
  const expected = new Map<string, Expected>();
  let outstanding = 0;
  let failure: Finding | undefined;
  peer.onMessage = (m: PeerMessage) => {
    try {
      handle(m);
    } catch (e) {
      failure ??=
        e instanceof Finding
          ? e
          : new Finding(`checking a server message failed: ${String(e)}`, { cause: e });
    }
  };
  const handle = (m: PeerMessage) => {
    let header: ReturnType<typeof decodeHeader>;
    let message: Message;
    try {
      header = decodeHeader(m.bytes);
      message = decodeMessage(
        {
          header,
          payload: m.bytes.subarray(HEADER_SIZE),
          fds: Array.from({ length: m.fds }, (_, i) => 1000 + i),
        },
        { role: 'client' },
      );
    } catch (e) {
      throw new Finding(
        `the server sent a malformed message ${Buffer.from(m.bytes.subarray(0, 64)).toString('hex')}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (message.kind === 'request') {
      // DMA_READ/DMA_WRITE from the server (fd-less DMA_MAP): refuse, as a client may.
      if (header.noReply) return;
      const reply = encodeMessage({
        kind: 'error',
        command: header.command,
        msgId: header.msgId,
        errorNo: Errno.EFAULT,
      });
      void peer.send(reply);
      return;
    }
    const key = `${header.msgId}/${header.command}`;
    const e = expected.get(key);
    if (e === undefined || e.count === 0) {
      throw new Finding(
        `a reply (msg_id ${header.msgId}, command ${header.command}) that answers no request`,
      );
    }
    e.count--;
    outstanding--;
  };
  try {
    for (const r of records) {
      if (peer.ended) break;
      const attached: (OwnedFd | EventFd)[] = [];
      for (let i = 0; i < (r.control & CONTROL_FD_COUNT); i++) {
        attached.push(
          (r.control & CONTROL_FD_EVENTFD) !== 0
            ? EventFd.create()
            : createMemfd('fuzz-dma', { size: 1 << 16 }),
        );
      }
      // Only whole messages of a usable size with the command type and no No_reply get answers.
      let wantsReply = false;
      if (r.bytes.length >= HEADER_SIZE) {
        const v = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
        const size = v.getUint32(4, true);
        const flags = v.getUint32(8, true);
        wantsReply =
          size === r.bytes.length &&
          (flags & HeaderFlags.TypeMask) !== HeaderFlags.TypeReply &&
          (flags & HeaderFlags.NoReply) === 0;
        if (wantsReply) {
          const key = `${v.getUint16(0, true)}/${v.getUint16(2, true)}`;
          const e = expected.get(key) ?? { key, count: 0 };
          e.count++;
          expected.set(key, e);
          outstanding++;
        }
      }
      if ((r.control & CONTROL_SPLIT) !== 0 && r.bytes.length > 1) {
        const half = r.bytes.length >> 1;
        await peer.send(r.bytes.subarray(0, half), attached);
        await new Promise((resolve) => setImmediate(resolve));
        await peer.send(r.bytes.subarray(half));
      } else {
        await peer.send(r.bytes, attached);
      }
      for (const a of attached) a.close();
      if (wantsReply && (r.control & CONTROL_WAIT) !== 0) {
        const deadline = Date.now() + SETTLE_MS;
        const before = outstanding;
        while (outstanding >= before && !peer.ended && Date.now() < deadline) await peer.wait(50);
      }
      if (failure !== undefined) throw failure;
    }
    const deadline = Date.now() + SETTLE_MS;
    while (outstanding > 0 && !peer.ended && Date.now() < deadline && failure === undefined)
      await peer.wait(50);
    if (failure !== undefined) throw failure;
    if (outstanding > 0 && !peer.ended) {
      const missing = [...expected.values()].filter((e) => e.count > 0).map((e) => e.key);
      throw new Finding(
        `no reply within ${SETTLE_MS} ms to ${missing.join(', ')} (msg_id/command), connection still open`,
      );
    }
  } finally {
    peer.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise((resolve) => (timer = setTimeout(resolve, SETTLE_MS)))]);
    clearTimeout(timer);
    server.off('client-disconnected', onGone);
  }
  if (server.connected) throw new Finding('the endpoint still serves a client that hung up');
}

export function sessionTarget(): FuzzTarget {
  const captured = capturedMessages().filter((c) => c.dir === 'c2s');
  const pool = captured.map((c) => c.bytes);
  let tree: DeviceTree | undefined;
  const servers: VfioUserServer[] = [];
  let witness: VfioUserServer | undefined;
  let client: VfioUserClient | undefined;
  let baseline: ReadonlyMap<number, string> = new Map();
  let heapBaseline = 0;
  let runs = 0;
  const witnessAnswers = async () => {
    const id = await (client as VfioUserClient).regionRead(7, 0, 4);
    const value = new DataView(id.buffer, id.byteOffset, 4).getUint32(0, true);
    if (value !== 0x11e81234)
      throw new Finding(`the other endpoint answered ${value.toString(16)} for edu's vendor/device id`);
  };
  const noLeaks = async () => {
    // fds are closed as the session tears down; give stragglers a few turns of the loop.
    for (let i = 0; i < 20; i++) {
      if (leakedFds(baseline).length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const leaked = leakedFds(baseline).map(([fd, target]) => `${fd} -> ${target}`);
    throw new Finding(`fds leaked: ${leaked.join(', ')}`);
  };
  return {
    name: 'session',
    description:
      'client messages with fds to a real endpoint over a socketpair; replies, fds, other endpoint',
    scope: [
      '/packages/server/src/',
      '/packages/transport/src/',
      '/packages/protocol/src/',
      '/packages/pci/src/',
      '/packages/devices/src/',
      '/packages/memory/src/',
    ],
    maxLen: 2048,
    // Each run is a new connection, and the endpoint warm-resets its device when a client leaves.
    stateless: true,
    seeds() {
      const seeds: Uint8Array[] = [];
      // Captured client messages in order, a handful at a time behind our own VERSION.
      for (let i = 0; i < captured.length; i += 6) {
        const records = [{ control: CONTROL_WAIT, bytes: VERSION_REQUEST }];
        for (const c of captured.slice(i, i + 6)) {
          if (c.bytes[2] === Command.Version && c.bytes[3] === 0) continue;
          records.push({ control: Math.min(c.nfds, 3) | CONTROL_WAIT, bytes: c.bytes });
        }
        for (let d = 0; d < DEVICES.length; d++) seeds.push(Uint8Array.from([d, ...formatStream(records)]));
      }
      return seeds;
    },
    async setup() {
      const registry = new DeviceTypeRegistry();
      const drive = memoryBlockBackend(1 << 20);
      registerZooDevices(registry, { resolveBlockdev: (name) => (name === 'd0' ? drive : undefined) });
      tree = new DeviceTree({ registry });
      for (const [i, [driver, props]] of DEVICES.entries()) {
        const server = new VfioUserServer({
          id: `fz${i}`,
          socketPath: `/nonexistent/fz${i}.sock`,
          tree,
          requestTimeoutMs: 200,
        });
        tree.deviceAdd({ driver, id: `fz${i}-dev`, bus: `fz${i}`, ...props });
        servers.push(server);
      }
      witness = new VfioUserServer({ id: 'witness', socketPath: '/nonexistent/witness.sock', tree });
      tree.deviceAdd({ driver: 'edu', id: 'witness-dev', bus: 'witness' });
      const [a, b] = channelPair();
      witness.attach(a);
      client = await VfioUserClient.fromChannel(b);
      await witnessAnswers();
      baseline = ownFds();
      heapBaseline = liveHeapBytes();
    },
    async run(input) {
      if (input.length === 0) return;
      const server = servers[(input[0] as number) % DEVICES.length] as VfioUserServer;
      await session(server, input);
      await noLeaks();
      if (++runs % 16 === 0) await witnessAnswers();
    },
    async check() {
      await witnessAnswers();
      await noLeaks();
      const heap = liveHeapBytes();
      if (heap - heapBaseline > HEAP_GROWTH_LIMIT) {
        throw new Finding(`live heap grew from ${heapBaseline} to ${heap} bytes over the sessions`);
      }
    },
    mutate(input, ctx) {
      if (input.length === 0 || ctx.rng.oneIn(16))
        return Uint8Array.of(ctx.rng.below(DEVICES.length), ...input.subarray(1));
      return Uint8Array.of(
        input[0] as number,
        ...mutateStream(input.subarray(1), { ...ctx, maxLen: ctx.maxLen - 1 }, pool),
      );
    },
    async teardown() {
      await client?.close();
      for (const s of servers) await s.close();
      await witness?.close();
      servers.length = 0;
    },
  };
}
