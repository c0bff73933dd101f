import { ProtocolError } from './errors';
import { HEADER_SIZE } from './header';
import { dataMessageSize, StructSize } from './sizes';

/**
 * The `capabilities` object of the VERSION JSON, camelCased. Every member is optional; absent
 * members take {@link CAPABILITY_DEFAULTS}.
 */
export interface VersionCapabilities {
  /** Most fds the sender of this JSON can receive in one message. */
  maxMsgFds?: number;
  /** Largest data `count` the sender accepts in REGION_*, DMA_* and MIG_DATA_* messages. */
  maxDataXferSize?: number;
  /** Most DMA mappings valid at once. */
  maxDmaMaps?: number;
  /** Bitwise OR of the page sizes supported for DMA_MAP. */
  pgsizes?: number;
  /** Legacy `migration` object, still sent by QEMU and libvfio-user (not in the spec's table). */
  migration?: { pgsize?: number; maxBitmapSize?: number };
  /** Twin-socket mode: `fdIndex` only in a reply, indexing the reply's fds. */
  twinSocket?: { supported?: boolean; fdIndex?: number };
  /** The sender accepts REGION_WRITE_MULTI. */
  writeMultiple?: boolean;
  /** Keys of `capabilities` this package does not know (ignored, kept for traces). */
  unknownKeys?: string[];
}

/** Values the spec prescribes for absent capabilities. */
export const CAPABILITY_DEFAULTS = {
  maxMsgFds: 1,
  maxDataXferSize: 1_048_576,
  maxDmaMaps: 65_535,
  pgsizes: 4096,
} as const;

function bad(message: string, field: string): ProtocolError {
  return new ProtocolError('bad-capability', `VERSION capabilities: ${message}`, { field });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function integer(v: unknown, field: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw bad(`${field} must be an integer >= ${min}, got ${JSON.stringify(v)}`, field);
  }
  return v;
}

function boolean(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw bad(`${field} must be a boolean, got ${JSON.stringify(v)}`, field);
  return v;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (BigInt(n) & (BigInt(n) - 1n)) === 0n;
}

/**
 * Parses and validates VERSION JSON text (without its NUL). Throws ProtocolError `bad-json` for
 * text that is not a JSON object and `bad-capability` for members of the wrong type or
 * contradictory values.
 */
export function parseCapabilities(json: string): VersionCapabilities {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ProtocolError('bad-json', `VERSION JSON does not parse: ${(e as Error).message}`, { cause: e });
  }
  if (!isObject(doc)) throw new ProtocolError('bad-json', 'VERSION JSON is not an object', {});
  const raw = doc.capabilities;
  if (raw === undefined) return {};
  if (!isObject(raw)) throw bad('capabilities must be an object', 'capabilities');
  const caps: VersionCapabilities = {};
  const unknown: string[] = [];
  for (const [key, v] of Object.entries(raw)) {
    switch (key) {
      case 'max_msg_fds':
        caps.maxMsgFds = integer(v, key, 0);
        break;
      case 'max_data_xfer_size':
        caps.maxDataXferSize = integer(v, key, 1);
        break;
      case 'max_dma_maps':
        caps.maxDmaMaps = integer(v, key, 0);
        break;
      case 'pgsizes': {
        const p = integer(v, key, 1);
        // QEMU's rule: every page size is a multiple of 4 KiB.
        if (p % 4096 !== 0) throw bad(`pgsizes 0x${p.toString(16)} has a page size below 4096`, key);
        caps.pgsizes = p;
        break;
      }
      case 'migration': {
        if (!isObject(v)) throw bad('migration must be an object', key);
        const m: { pgsize?: number; maxBitmapSize?: number } = {};
        if (v.pgsize !== undefined) {
          m.pgsize = integer(v.pgsize, 'migration.pgsize', 1);
          if (!isPowerOfTwo(m.pgsize)) throw bad(`migration.pgsize ${m.pgsize} is not a power of two`, key);
        }
        if (v.max_bitmap_size !== undefined) {
          m.maxBitmapSize = integer(v.max_bitmap_size, 'migration.max_bitmap_size', 0);
        }
        caps.migration = m;
        break;
      }
      case 'twin_socket': {
        if (!isObject(v)) throw bad('twin_socket must be an object', key);
        const t: { supported?: boolean; fdIndex?: number } = {};
        if (v.supported !== undefined) t.supported = boolean(v.supported, 'twin_socket.supported');
        if (v.fd_index !== undefined) t.fdIndex = integer(v.fd_index, 'twin_socket.fd_index', 0);
        if (t.fdIndex !== undefined && t.supported !== true) {
          throw bad('twin_socket.fd_index is given but supported is not true', key);
        }
        caps.twinSocket = t;
        break;
      }
      case 'write_multiple':
        caps.writeMultiple = boolean(v, key);
        break;
      default:
        unknown.push(key);
    }
  }
  if (unknown.length > 0) caps.unknownKeys = unknown;
  return caps;
}

/** Serialises capabilities to the compact VERSION JSON text (without the NUL). */
export function serializeCapabilities(caps: VersionCapabilities): string {
  const o: Record<string, unknown> = {};
  if (caps.maxMsgFds !== undefined) o.max_msg_fds = caps.maxMsgFds;
  if (caps.maxDataXferSize !== undefined) o.max_data_xfer_size = caps.maxDataXferSize;
  if (caps.maxDmaMaps !== undefined) o.max_dma_maps = caps.maxDmaMaps;
  if (caps.pgsizes !== undefined) o.pgsizes = caps.pgsizes;
  if (caps.migration !== undefined) {
    const m: Record<string, number> = {};
    if (caps.migration.pgsize !== undefined) m.pgsize = caps.migration.pgsize;
    if (caps.migration.maxBitmapSize !== undefined) m.max_bitmap_size = caps.migration.maxBitmapSize;
    o.migration = m;
  }
  if (caps.twinSocket !== undefined) {
    const t: Record<string, unknown> = {};
    if (caps.twinSocket.supported !== undefined) t.supported = caps.twinSocket.supported;
    if (caps.twinSocket.fdIndex !== undefined) t.fd_index = caps.twinSocket.fdIndex;
    o.twin_socket = t;
  }
  if (caps.writeMultiple !== undefined) o.write_multiple = caps.writeMultiple;
  return JSON.stringify({ capabilities: o });
}

/** What both peers agreed on after VERSION, from this side's point of view. */
export interface NegotiatedCapabilities {
  /** Most fds we may attach to a message we send (the peer's `max_msg_fds`). */
  maxSendFds: number;
  /** Most fds we accept in a received message (our `max_msg_fds`). */
  maxRecvFds: number;
  /** Largest data count we may send to the peer (the peer's `max_data_xfer_size`). */
  maxSendDataXferSize: number;
  /** Largest data count we accept from the peer (ours). */
  maxRecvDataXferSize: number;
  /** Page sizes both support for DMA_MAP. */
  pgsizes: number;
  maxDmaMaps: number;
  /** Present when both sides sent a `migration` object. */
  migration?: { pgsize?: number; maxBitmapSize?: number };
  /** Twin-socket mode is on: server-to-client commands use the second socket. */
  twinSocket: boolean;
  /** The server accepts REGION_WRITE_MULTI. */
  writeMultiple: boolean;
}

/** Which side of the connection we are. */
export type Role = 'client' | 'server';

function parsePeer(peer: string | VersionCapabilities | undefined): VersionCapabilities {
  if (peer === undefined) return {};
  return typeof peer === 'string' ? parseCapabilities(peer) : peer;
}

/**
 * The core of capability negotiation. `local` is what we sent (a client's proposal, a server's
 * offer), `peer` what the other side sent, as JSON text or parsed. Absent members take the spec's
 * defaults. Throws ProtocolError `bad-capability` when the two cannot agree (no common page
 * size, migration page sizes differ, an inconsistent twin-socket answer).
 */
export function negotiateCapabilities(args: {
  role: Role;
  local: VersionCapabilities;
  peer: string | VersionCapabilities | undefined;
}): NegotiatedCapabilities {
  const { role, local } = args;
  const peer = parsePeer(args.peer);
  const d = CAPABILITY_DEFAULTS;
  const pg = BigInt(local.pgsizes ?? d.pgsizes) & BigInt(peer.pgsizes ?? d.pgsizes);
  if (pg === 0n) {
    throw bad(
      `no common DMA page size (ours 0x${(local.pgsizes ?? d.pgsizes).toString(16)}, peer's 0x${(peer.pgsizes ?? d.pgsizes).toString(16)})`,
      'pgsizes',
    );
  }
  const result: NegotiatedCapabilities = {
    maxSendFds: peer.maxMsgFds ?? d.maxMsgFds,
    maxRecvFds: local.maxMsgFds ?? d.maxMsgFds,
    maxSendDataXferSize: peer.maxDataXferSize ?? d.maxDataXferSize,
    maxRecvDataXferSize: local.maxDataXferSize ?? d.maxDataXferSize,
    pgsizes: Number(pg),
    maxDmaMaps: Math.min(local.maxDmaMaps ?? d.maxDmaMaps, peer.maxDmaMaps ?? d.maxDmaMaps),
    twinSocket: false,
    writeMultiple: (role === 'server' ? local.writeMultiple : peer.writeMultiple) ?? false,
  };
  // A libvfio-user server adds `migration` even when the client did not propose it; that is
  // tolerated, but migration is only agreed when both sides sent the object.
  if (local.migration !== undefined && peer.migration !== undefined) {
    const a = local.migration.pgsize;
    const b = peer.migration.pgsize;
    if (a !== undefined && b !== undefined && a !== b) {
      throw bad(`migration.pgsize differs (ours ${a}, peer's ${b})`, 'migration');
    }
    const m: { pgsize?: number; maxBitmapSize?: number } = {};
    const pgsize = a ?? b;
    if (pgsize !== undefined) m.pgsize = pgsize;
    const sizes = [local.migration.maxBitmapSize, peer.migration.maxBitmapSize].filter(
      (x): x is number => x !== undefined,
    );
    if (sizes.length > 0) m.maxBitmapSize = Math.min(...sizes);
    result.migration = m;
  }
  if (role === 'server') {
    if (peer.twinSocket?.fdIndex !== undefined) {
      throw bad('twin_socket.fd_index is only valid in a reply', 'twin_socket');
    }
    result.twinSocket = local.twinSocket?.supported === true && peer.twinSocket?.supported === true;
  } else if (peer.twinSocket?.supported === true) {
    if (local.twinSocket?.supported !== true) {
      throw bad('server enabled twin_socket, which the client did not propose', 'twin_socket');
    }
    if (peer.twinSocket.fdIndex === undefined) {
      throw bad('server enabled twin_socket without fd_index', 'twin_socket');
    }
    result.twinSocket = true;
  }
  return result;
}

/** Our side's VERSION settings. */
export interface VersionOffer {
  /** Default 0: the only major version in use. */
  major?: number;
  /** Highest minor we support; default 2 (libvfio-user's). */
  minor?: number;
  capabilities: VersionCapabilities;
}

/**
 * Server side of the handshake: checks the client's VERSION request and builds our reply. The
 * reply states our `max_msg_fds` and `max_data_xfer_size` (as libvfio-user does) and otherwise only
 * members the client proposed. When `negotiated.twinSocket` is true the caller must attach the
 * client end of a socketpair as fd 0 of the reply.
 */
export function negotiateServer(
  offer: VersionOffer,
  request: { major: number; minor: number; capabilities?: VersionCapabilities },
): {
  reply: { major: number; minor: number; capabilities: VersionCapabilities };
  negotiated: NegotiatedCapabilities;
} {
  const major = offer.major ?? 0;
  if (request.major !== major) {
    throw new ProtocolError(
      'unsupported-version',
      `client major version ${request.major}, we support ${major}`,
      {
        field: 'major',
      },
    );
  }
  const proposal = request.capabilities ?? {};
  const negotiated = negotiateCapabilities({ role: 'server', local: offer.capabilities, peer: proposal });
  const caps: VersionCapabilities = {
    maxMsgFds: negotiated.maxRecvFds,
    maxDataXferSize: negotiated.maxRecvDataXferSize,
  };
  if (proposal.pgsizes !== undefined || offer.capabilities.pgsizes !== undefined)
    caps.pgsizes = negotiated.pgsizes;
  if (proposal.maxDmaMaps !== undefined) caps.maxDmaMaps = negotiated.maxDmaMaps;
  if (negotiated.migration !== undefined) caps.migration = negotiated.migration;
  if (negotiated.twinSocket) caps.twinSocket = { supported: true, fdIndex: 0 };
  if (negotiated.writeMultiple) caps.writeMultiple = true;
  const minor = Math.min(request.minor, offer.minor ?? 2);
  return { reply: { major, minor, capabilities: caps }, negotiated };
}

/**
 * Client side of the handshake: checks the server's VERSION reply against our proposal (same
 * major, minor not above ours, a twin-socket fd that is really attached) and returns the agreed
 * limits. `replyFdCount` is the number of fds that came with the reply.
 */
export function negotiateClient(
  proposal: { major: number; minor: number; capabilities?: VersionCapabilities },
  reply: { major: number; minor: number; capabilities?: VersionCapabilities },
  replyFdCount: number,
): NegotiatedCapabilities {
  if (reply.major !== proposal.major) {
    throw new ProtocolError(
      'unsupported-version',
      `server replied major ${reply.major}, we proposed ${proposal.major}`,
      {
        field: 'major',
      },
    );
  }
  if (reply.minor > proposal.minor) {
    throw bad(`server replied minor ${reply.minor}, above our ${proposal.minor}`, 'minor');
  }
  const negotiated = negotiateCapabilities({
    role: 'client',
    local: proposal.capabilities ?? {},
    peer: reply.capabilities ?? {},
  });
  const fdIndex = reply.capabilities?.twinSocket?.fdIndex;
  if (negotiated.twinSocket && (fdIndex === undefined || fdIndex >= replyFdCount)) {
    throw bad(`twin_socket.fd_index ${fdIndex} but ${replyFdCount} fd(s) attached`, 'twin_socket');
  }
  return negotiated;
}

/** Framer limits for the messages we receive after negotiation. */
export interface ReceiveLimits {
  maxMessageSize: number;
  maxFdsPerMessage: number;
}

/**
 * Size limit for received messages: the largest data transfer we accept plus its 16-byte access
 * header (libvfio-user's `1 MiB + 32` rule), raised to fit a dirty bitmap of `max_bitmap_size` when
 * migration was agreed.
 */
export function receiveLimits(n: NegotiatedCapabilities): ReceiveLimits {
  let max = dataMessageSize(n.maxRecvDataXferSize);
  const bitmap = n.migration?.maxBitmapSize;
  // DEVICE_FEATURE DMA_LOGGING_REPORT reply: 8-byte head, 24-byte range, then the bitmap.
  if (bitmap !== undefined) {
    max = Math.max(max, HEADER_SIZE + StructSize.DeviceFeature + StructSize.DmaLoggingReport + bitmap);
  }
  return { maxMessageSize: max, maxFdsPerMessage: n.maxRecvFds };
}

/** Framer limits before VERSION completes: the spec's defaults. */
export const DEFAULT_RECEIVE_LIMITS: Readonly<ReceiveLimits> = Object.freeze({
  maxMessageSize: dataMessageSize(CAPABILITY_DEFAULTS.maxDataXferSize),
  maxFdsPerMessage: CAPABILITY_DEFAULTS.maxMsgFds,
});
