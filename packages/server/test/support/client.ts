/**
 * A minimal vfio-user client for tests, on @vfu/protocol and @vfu/transport: typed calls, raw
 * payloads for malformed requests, and DMA_READ/DMA_WRITE service from plain byte arrays.
 */
import {
  Command,
  type DmaReadRequest,
  type DmaWriteRequest,
  dataMessageSize,
  decodeMessage,
  Errno,
  encodeReplyPayload,
  HEADER_SIZE,
  negotiateClient,
  type ReplyOf,
  type RequestOf,
  type VersionCapabilities,
} from '@vfu/protocol';
import type { FdLike, OwnedFd } from '@vfu/sys';
import { type Channel, channelPair, isTransportError } from '@vfu/transport';
import type { VfioUserServer } from '../../src/index';

/** Options of one call. */
export interface CallOptions {
  fds?: readonly FdLike[];
  acceptFds?: number;
  timeoutMs?: number;
}

/** Client memory served by DMA_READ/DMA_WRITE. */
export interface ClientMemory {
  iova: bigint;
  bytes: Uint8Array;
}

export class TestClient {
  readonly channel: Channel;
  /** DMA requests the server sent, as `read@addr+count` / `write@addr+count`. */
  readonly dmaLog: string[] = [];
  memory: ClientMemory[] = [];
  /** When set, DMA requests are answered with this errno. */
  dmaErrno: number | undefined;
  /** When set, DMA requests wait for it before being answered. */
  dmaGate: Promise<void> | undefined;
  /** DMA requests received so far (counted on arrival, before any gate). */
  dmaArrived = 0;

  constructor(channel: Channel) {
    this.channel = channel;
    channel.onRequest((req) => {
      const m = decodeMessage(req, { role: 'client' });
      if (m.kind !== 'request') throw Object.assign(new Error('not a request'), { errno: Errno.EINVAL });
      const answer = () => {
        if (m.command === Command.DmaRead) return this.#dmaRead(m.body);
        if (m.command === Command.DmaWrite) return this.#dmaWrite(m.body);
        throw Object.assign(new Error('unexpected'), { errno: Errno.ENOSYS });
      };
      this.dmaArrived++;
      if (this.dmaGate !== undefined) return this.dmaGate.then(answer);
      if (m.command === Command.DmaRead || m.command === Command.DmaWrite) return answer();
      throw Object.assign(new Error('unexpected'), { errno: Errno.ENOSYS });
    });
  }

  /** A client connected to `server` through an in-process channel pair. */
  static attach(server: VfioUserServer): TestClient {
    const [serverSide, clientSide] = channelPair();
    server.attach(serverSide);
    return new TestClient(clientSide);
  }

  /** VERSION with `capabilities` (default: 8 fds, 1 MiB). */
  async negotiate(capabilities: VersionCapabilities = { maxMsgFds: 8, maxDataXferSize: 1 << 20 }) {
    const proposal = { major: 0, minor: 2, capabilities };
    const reply = await this.call(Command.Version, proposal);
    const negotiated = negotiateClient(proposal, reply.body, 0);
    this.channel.setSendLimits({
      maxMessageSize: dataMessageSize(negotiated.maxSendDataXferSize),
      maxFdsPerMessage: negotiated.maxSendFds,
    });
    this.channel.setReceiveLimits({
      maxMessageSize: HEADER_SIZE + 64 + negotiated.maxRecvDataXferSize,
      maxFdsPerMessage: 8,
    });
    return { reply: reply.body, negotiated };
  }

  /** A typed request; resolves with the decoded reply body and any fds. Error replies reject. */
  async call<C extends Command>(
    command: C,
    body: RequestOf<C>,
    opts: CallOptions = {},
  ): Promise<{ body: ReplyOf<C>; fds: OwnedFd[] }> {
    const reply = await this.channel.call(command, body, {
      ...(opts.fds ? { fds: opts.fds } : {}),
      acceptFds: opts.acceptFds ?? 1,
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    });
    return { body: reply.body, fds: reply.takeFds() };
  }

  /** A typed No_reply command. */
  post<C extends Command>(command: C, body: RequestOf<C>): Promise<void> {
    return this.channel.callNoReply(command, body);
  }

  /** Sends `payload` as-is for `command`; resolves with the errno of the error reply (0 = success). */
  async rawErrno(command: number, payload: Uint8Array, fds?: readonly FdLike[]): Promise<number> {
    try {
      const reply = await this.channel.request(command, payload, { ...(fds ? { fds } : {}), acceptFds: 1 });
      for (const fd of reply.takeFds()) fd.close();
      return 0;
    } catch (e) {
      if (isTransportError(e) && e.code === 'ERROR_REPLY') return e.errno ?? -1;
      throw e;
    }
  }

  /** The errno a typed call fails with (0 when it succeeds). */
  async errno<C extends Command>(command: C, body: RequestOf<C>, opts: CallOptions = {}): Promise<number> {
    try {
      const r = await this.call(command, body, opts);
      for (const fd of r.fds) fd.close();
      return 0;
    } catch (e) {
      if (isTransportError(e) && e.code === 'ERROR_REPLY') return e.errno ?? -1;
      throw e;
    }
  }

  /** Config space read of `size` bytes as a little-endian number. */
  async configRead(offset: number, size: 1 | 2 | 4): Promise<number> {
    const data = await this.regionRead(7, BigInt(offset), size);
    let v = 0;
    for (let i = 0; i < size; i++) v |= (data[i] ?? 0) << (8 * i);
    return v >>> 0;
  }

  async configWrite(offset: number, value: number, size: 1 | 2 | 4): Promise<void> {
    await this.regionWrite(7, BigInt(offset), le(value, size));
  }

  async regionRead(region: number, offset: bigint, count: number): Promise<Uint8Array> {
    const r = await this.call(Command.RegionRead, { region, offset, count });
    if (r.body.form === 'header-only') return new Uint8Array(0);
    return r.body.data.slice();
  }

  async regionWrite(region: number, offset: bigint, data: Uint8Array): Promise<void> {
    await this.call(Command.RegionWrite, { region, offset, count: data.length, data });
  }

  /** 32-bit register read of BAR `bar`. */
  async barRead32(bar: number, offset: number): Promise<number> {
    const d = await this.regionRead(bar, BigInt(offset), 4);
    return new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
  }

  async barWrite32(bar: number, offset: number, value: number): Promise<void> {
    await this.regionWrite(bar, BigInt(offset), le(value, 4));
  }

  close(): Promise<void> {
    return this.channel.close();
  }

  #find(address: bigint, count: number): Uint8Array | undefined {
    for (const m of this.memory) {
      if (address >= m.iova && address + BigInt(count) <= m.iova + BigInt(m.bytes.length)) {
        const at = Number(address - m.iova);
        return m.bytes.subarray(at, at + count);
      }
    }
    return undefined;
  }

  #dmaRead(q: DmaReadRequest) {
    this.dmaLog.push(`read@${q.address.toString(16)}+${q.count}`);
    if (this.dmaErrno !== undefined) throw Object.assign(new Error('refused'), { errno: this.dmaErrno });
    const src = this.#find(q.address, Number(q.count));
    if (src === undefined) throw Object.assign(new Error('unmapped'), { errno: Errno.ENODEV });
    return {
      payload: encodeReplyPayload(Command.DmaRead, { address: q.address, count: q.count, data: src }),
    };
  }

  #dmaWrite(q: DmaWriteRequest) {
    this.dmaLog.push(`write@${q.address.toString(16)}+${q.count}`);
    if (this.dmaErrno !== undefined) throw Object.assign(new Error('refused'), { errno: this.dmaErrno });
    const dst = this.#find(q.address, Number(q.count));
    if (dst === undefined) throw Object.assign(new Error('unmapped'), { errno: Errno.ENODEV });
    dst.set(q.data);
    return { payload: encodeReplyPayload(Command.DmaWrite, { address: q.address, count: q.count }) };
  }
}

/** Little-endian bytes of `value`. */
export function le(value: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (value >>> (8 * i)) & 0xff;
  return out;
}

/** Reply type helper for tests. */
export type Reply<C extends Command> = ReplyOf<C>;

/** Resolves once `cond()` holds, polling every few ms (rejects after `timeoutMs`). */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}
