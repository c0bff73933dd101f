/**
 * What the server checks run against: a socket path, the device as the server describes it
 * (discovered once, through VERSION, GET_INFO, GET_REGION_INFO and GET_IRQ_INFO), and
 * connections: a shared negotiated one for checks that leave the connection usable, fresh ones
 * for checks about the handshake or that end the connection.
 */
import { createMemfd, EventFd, type OwnedFd } from '@vfu/sys';
import { type Check, CheckFailure, expectThat } from './check';
import { ConformanceError } from './errors';
import { FLAG_ERROR, le, type RawMessage, RawPeer, type Received } from './peer';

export const Cmd = {
  Version: 1,
  DmaMap: 2,
  DmaUnmap: 3,
  GetInfo: 4,
  RegionInfo: 5,
  RegionIoFds: 6,
  IrqInfo: 7,
  SetIrqs: 8,
  RegionRead: 9,
  RegionWrite: 10,
  DmaRead: 11,
  DmaWrite: 12,
  Reset: 13,
  WriteMulti: 15,
  Feature: 16,
  MigDataRead: 17,
  MigDataWrite: 18,
} as const;

export const E = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  EBADF: 9,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ENOSYS: 38,
  ENOTSUP: 95,
} as const;
const ERRNO_NAMES: Record<number, string> = Object.fromEntries(Object.entries(E).map(([k, v]) => [v, k]));
export const errnoName = (n: number): string => ERRNO_NAMES[n] ?? `errno ${n}`;

export interface RegionDesc {
  index: number;
  flags: number;
  size: bigint;
  offset: bigint;
  argsz: number;
  capOffset: number;
  fds: number;
}

export interface IrqDesc {
  index: number;
  flags: number;
  count: number;
}

/** What the server offered and described. */
export interface Discovery {
  versionMajor: number;
  versionMinor: number;
  capabilities: Record<string, unknown>;
  maxDataXferSize: number;
  maxMsgFds: number;
  writeMultiple: boolean;
  deviceFlags: number;
  numRegions: number;
  numIrqs: number;
  regions: RegionDesc[];
  irqs: IrqDesc[];
}

export const CLIENT_JSON = (maxMsgFds: number) =>
  `{"capabilities":{"max_msg_fds":${maxMsgFds},"max_data_xfer_size":1048576,"pgsizes":4096}}`;

export function versionPayload(major: number, minor: number, json: string | undefined): Uint8Array {
  const text = json === undefined ? new Uint8Array(0) : new TextEncoder().encode(`${json}\0`);
  return le(['u16', major], ['u16', minor], ['bytes', text]);
}

export function isReply(r: Received): r is RawMessage {
  return typeof r !== 'string';
}

export function describeReceived(r: Received): string {
  if (r === 'closed') return 'the server closed the connection';
  if (r === 'timeout') return 'no reply';
  if (r.flags & FLAG_ERROR) return `error reply ${errnoName(r.errorNo)}`;
  return `success reply of ${r.payload.byteLength} payload bytes`;
}

/** Asserts an error reply with one of `errnos` (the first is the preferred one). */
export function expectError(r: Received, errnos: readonly number[], what: string): string | undefined {
  for (const fd of isReply(r) ? r.fds : []) fd.close();
  expectThat(
    isReply(r) && (r.flags & FLAG_ERROR) !== 0,
    `${what}: expected an error reply (${errnos.map(errnoName).join(' or ')}), got ${describeReceived(r)}`,
  );
  expectThat(
    r.msgSize === 16,
    `${what}: error reply carries ${r.msgSize - 16} payload bytes; the spec makes it header-only`,
  );
  expectThat(
    errnos.includes(r.errorNo),
    `${what}: error reply ${errnoName(r.errorNo)}, expected ${errnos.map(errnoName).join(' or ')}`,
  );
  return r.errorNo === errnos[0] ? undefined : `answered ${errnoName(r.errorNo)}`;
}

/** Asserts a success reply and returns it. */
export function expectOk(r: Received, what: string): RawMessage {
  if (!isReply(r) || (r.flags & FLAG_ERROR) !== 0) {
    for (const fd of isReply(r) ? r.fds : []) fd.close();
    throw new CheckFailure(`${what}: expected success, got ${describeReceived(r)}`);
  }
  return r;
}

export function u32(b: Uint8Array, at: number): number {
  return b.byteLength >= at + 4 ? new DataView(b.buffer, b.byteOffset).getUint32(at, true) : -1;
}
export function u64(b: Uint8Array, at: number): bigint {
  return b.byteLength >= at + 8 ? new DataView(b.buffer, b.byteOffset).getBigUint64(at, true) : -1n;
}

/** Options of a server run. */
export interface ServerRunOptions {
  /** Pass fds (DMA_MAP memory, SET_IRQS eventfds) and accept them (default true). */
  fds?: boolean;
  /** Per-reply timeout (default 2000 ms). */
  timeoutMs?: number;
}

/** The context every server check gets. */
export class ServerContext {
  readonly socketPath: string;
  readonly fds: boolean;
  readonly timeoutMs: number;
  discovery!: Discovery;
  #shared: RawPeer | undefined;
  readonly #resources: { close(): void }[] = [];

  constructor(socketPath: string, options: ServerRunOptions = {}) {
    this.socketPath = socketPath;
    this.fds = options.fds ?? true;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** A new connection, without VERSION; the shared one is closed first (servers serve one client). */
  async fresh(): Promise<RawPeer> {
    await this.dropShared();
    try {
      return await RawPeer.connect(this.socketPath);
    } catch (cause) {
      throw new ConformanceError(
        'connect-failed',
        `cannot connect to ${this.socketPath}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** Closes the shared connection and gives the server a moment to notice. */
  async dropShared(): Promise<void> {
    if (this.#shared === undefined) return;
    this.#shared.close();
    this.#shared = undefined;
    await new Promise((r) => setTimeout(r, 15));
  }

  /** Sends VERSION with our capabilities and returns the reply. */
  async negotiate(peer: RawPeer, json = CLIENT_JSON(this.fds ? 8 : 0)): Promise<Received> {
    return peer.call(Cmd.Version, versionPayload(0, 0, json), { timeoutMs: this.timeoutMs });
  }

  /** The shared negotiated connection (reconnecting when a check ended it). */
  async session(): Promise<RawPeer> {
    if (this.#shared !== undefined && !this.#shared.closed) return this.#shared;
    const peer = await this.fresh();
    const r = await this.negotiate(peer);
    if (!isReply(r) || r.flags & FLAG_ERROR) {
      peer.close();
      throw new ConformanceError('peer-unusable', `VERSION failed: ${describeReceived(r)}`);
    }
    for (const fd of r.fds) fd.close();
    this.#shared = peer;
    return peer;
  }

  /** A call on the shared session. */
  async call(
    command: number,
    payload?: Uint8Array,
    opts: { fds?: readonly (OwnedFd | EventFd)[]; flags?: number } = {},
  ): Promise<Received> {
    const peer = await this.session();
    return peer.call(command, payload, { ...opts, timeoutMs: this.timeoutMs });
  }

  memfd(size: number): OwnedFd {
    const fd = createMemfd('vfu-conformance', { size });
    this.#resources.push(fd);
    return fd;
  }

  eventfd(): EventFd {
    const fd = EventFd.create();
    this.#resources.push(fd);
    return fd;
  }

  /** Discovers the device through the four info commands. */
  async discover(): Promise<Discovery> {
    const peer = await this.fresh();
    const v = await this.negotiate(peer);
    if (!isReply(v) || v.flags & FLAG_ERROR) {
      throw new ConformanceError('peer-unusable', `VERSION failed: ${describeReceived(v)}`);
    }
    for (const fd of v.fds) fd.close();
    this.#shared = peer;
    let caps: Record<string, unknown> = {};
    try {
      const text = new TextDecoder().decode(v.payload.subarray(4)).replace(/\0+$/, '');
      caps =
        text === ''
          ? {}
          : ((JSON.parse(text) as { capabilities?: Record<string, unknown> }).capabilities ?? {});
    } catch {
      caps = {};
    }
    const info = expectOkOr(
      await this.call(Cmd.GetInfo, le(['u32', 16], ['u32', 0], ['u32', 0], ['u32', 0])),
      'DEVICE_GET_INFO',
    );
    const numRegions = u32(info.payload, 8);
    const numIrqs = u32(info.payload, 12);
    const regions: RegionDesc[] = [];
    for (let i = 0; i < Math.min(numRegions, 16); i++) {
      const r = await this.call(
        Cmd.RegionInfo,
        le(['u32', 512], ['u32', 0], ['u32', i], ['u32', 0], ['u64', 0], ['u64', 0]),
      );
      if (!isReply(r) || r.flags & FLAG_ERROR) continue;
      for (const fd of r.fds) fd.close();
      regions.push({
        index: i,
        argsz: u32(r.payload, 0),
        flags: u32(r.payload, 4),
        capOffset: u32(r.payload, 12),
        size: u64(r.payload, 16),
        offset: u64(r.payload, 24),
        fds: r.fds.length,
      });
    }
    const irqs: IrqDesc[] = [];
    for (let i = 0; i < Math.min(numIrqs, 8); i++) {
      const r = await this.call(Cmd.IrqInfo, le(['u32', 16], ['u32', 0], ['u32', i], ['u32', 0]));
      if (!isReply(r) || r.flags & FLAG_ERROR) continue;
      irqs.push({ index: i, flags: u32(r.payload, 4), count: u32(r.payload, 12) });
    }
    const num = (k: string, d: number) => (typeof caps[k] === 'number' ? (caps[k] as number) : d);
    this.discovery = {
      versionMajor: new DataView(v.payload.buffer, v.payload.byteOffset).getUint16(0, true),
      versionMinor: new DataView(v.payload.buffer, v.payload.byteOffset).getUint16(2, true),
      capabilities: caps,
      maxDataXferSize: num('max_data_xfer_size', 1 << 20),
      maxMsgFds: num('max_msg_fds', 1),
      writeMultiple: caps.write_multiple === true,
      deviceFlags: u32(info.payload, 4),
      numRegions,
      numIrqs,
      regions,
      irqs,
    };
    return this.discovery;
  }

  /** Closes every connection and resource. */
  async close(): Promise<void> {
    await this.dropShared();
    for (const r of this.#resources.splice(0)) {
      try {
        r.close();
      } catch {
        // closed by the check already
      }
    }
  }
}

function expectOkOr(r: Received, what: string): RawMessage {
  if (!isReply(r) || r.flags & FLAG_ERROR)
    throw new ConformanceError('peer-unusable', `${what} failed: ${describeReceived(r)}`);
  return r;
}

/** A server check. */
export type ServerCheck = Check<ServerContext>;
