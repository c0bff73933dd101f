/**
 * pcapng blocks (draft-ietf-opsawg-pcapng): the Section Header, Interface Description and Enhanced
 * Packet blocks this package writes, and a reader for any little- or big-endian file holding them.
 * Pure: bytes in, bytes out; no I/O and no dependency, so servers and clients can embed it.
 */
import { TraceError } from './errors';

/** Block types. */
export const BlockType = {
  SectionHeader: 0x0a0d0d0a,
  InterfaceDescription: 0x00000001,
  SimplePacket: 0x00000003,
  EnhancedPacket: 0x00000006,
} as const;

const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** Option codes used here. */
const OPT_END = 0;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const EPB_FLAGS = 2;

/** Direction bits of an Enhanced Packet Block's `epb_flags`, as the capturing process saw it. */
export const PacketDirection = { unknown: 0, inbound: 1, outbound: 2 } as const;
export type PacketDirection = (typeof PacketDirection)[keyof typeof PacketDirection];

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Encodes options (code, value) as a pcapng option list ending with opt_endofopt. */
function encodeOptions(options: readonly [number, Uint8Array][]): Uint8Array {
  if (options.length === 0) return new Uint8Array(0);
  let size = 4;
  for (const [, v] of options) size += 4 + pad4(v.byteLength);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [code, v] of options) {
    view.setUint16(at, code, true);
    view.setUint16(at + 2, v.byteLength, true);
    out.set(v, at + 4);
    at += 4 + pad4(v.byteLength);
  }
  view.setUint16(at, OPT_END, true);
  return out;
}

function block(type: number, body: Uint8Array): Uint8Array {
  const total = 12 + body.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, type, true);
  view.setUint32(4, total, true);
  out.set(body, 8);
  view.setUint32(total - 4, total, true);
  return out;
}

const utf8 = new TextEncoder();

/** A Section Header Block (little endian, version 1.0, section length unknown). */
export function sectionHeaderBlock(application?: string): Uint8Array {
  const options = encodeOptions(application === undefined ? [] : [[SHB_USERAPPL, utf8.encode(application)]]);
  const body = new Uint8Array(16 + options.byteLength);
  const view = new DataView(body.buffer);
  view.setUint32(0, BYTE_ORDER_MAGIC, true);
  view.setUint16(4, 1, true);
  view.setUint16(6, 0, true);
  view.setBigInt64(8, -1n, true);
  body.set(options, 16);
  return block(BlockType.SectionHeader, body);
}

/** What an Interface Description Block says. */
export interface InterfaceDescription {
  /** LINKTYPE_* value. */
  linkType: number;
  /** Largest captured length (0: no limit). */
  snapLength: number;
  name?: string;
  description?: string;
  /** Timestamp units per second (10^6 unless the block says otherwise). */
  unitsPerSecond?: number;
}

/** An Interface Description Block with microsecond timestamps. */
export function interfaceDescriptionBlock(iface: InterfaceDescription): Uint8Array {
  const opts: [number, Uint8Array][] = [];
  if (iface.name !== undefined) opts.push([IF_NAME, utf8.encode(iface.name)]);
  if (iface.description !== undefined) opts.push([IF_DESCRIPTION, utf8.encode(iface.description)]);
  opts.push([IF_TSRESOL, Uint8Array.of(6)]);
  const options = encodeOptions(opts);
  const body = new Uint8Array(8 + options.byteLength);
  const view = new DataView(body.buffer);
  view.setUint16(0, iface.linkType, true);
  view.setUint32(4, iface.snapLength, true);
  body.set(options, 8);
  return block(BlockType.InterfaceDescription, body);
}

/** An Enhanced Packet Block; `data` beyond `snapLength` (when non-zero) is cut off. */
export function enhancedPacketBlock(
  interfaceId: number,
  timeMicros: bigint,
  data: readonly Uint8Array[],
  direction: PacketDirection,
  snapLength = 0,
): Uint8Array {
  let length = 0;
  for (const d of data) length += d.byteLength;
  const captured = snapLength > 0 ? Math.min(length, snapLength) : length;
  const options = encodeOptions(direction === 0 ? [] : [[EPB_FLAGS, u32(direction)]]);
  const body = new Uint8Array(20 + pad4(captured) + options.byteLength);
  const view = new DataView(body.buffer);
  view.setUint32(0, interfaceId, true);
  view.setUint32(4, Number(timeMicros >> 32n), true);
  view.setUint32(8, Number(timeMicros & 0xffffffffn), true);
  view.setUint32(12, captured, true);
  view.setUint32(16, length, true);
  let at = 20;
  for (const d of data) {
    const n = Math.min(d.byteLength, 20 + captured - at);
    if (n <= 0) break;
    body.set(n === d.byteLength ? d : d.subarray(0, n), at);
    at += n;
  }
  body.set(options, 20 + pad4(captured));
  return block(BlockType.EnhancedPacket, body);
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

/** One interface of a read capture. */
export interface ReadInterface extends InterfaceDescription {
  unitsPerSecond: number;
}

/** One packet of a read capture. */
export interface ReadPacket {
  /** Index into the section's interfaces. */
  interfaceId: number;
  /** Index of the section (a file may hold several, e.g. concatenated captures). */
  section: number;
  /** Timestamp in microseconds since the epoch. */
  timeMicros: bigint;
  data: Uint8Array;
  /** Length on the wire; more than `data.byteLength` when the packet was cut at the snap length. */
  originalLength: number;
  direction: PacketDirection;
}

/** A read capture: interfaces per section, and every packet in file order. */
export interface PcapngFile {
  sections: { interfaces: ReadInterface[]; application: string | undefined }[];
  packets: ReadPacket[];
}

function readOptions(view: DataView, start: number, end: number, little: boolean): Map<number, Uint8Array[]> {
  const out = new Map<number, Uint8Array[]>();
  let at = start;
  while (at + 4 <= end) {
    const code = view.getUint16(at, little);
    const length = view.getUint16(at + 2, little);
    if (code === OPT_END) break;
    if (at + 4 + length > end)
      throw new TraceError('bad-capture', `option ${code} at byte ${at} overruns its block`);
    const value = new Uint8Array(view.buffer, view.byteOffset + at + 4, length);
    out.set(code, [...(out.get(code) ?? []), value]);
    at += 4 + pad4(length);
  }
  return out;
}

const utf8Decoder = new TextDecoder();

function text(options: Map<number, Uint8Array[]>, code: number): string | undefined {
  const v = options.get(code)?.[0];
  return v === undefined ? undefined : utf8Decoder.decode(v).replace(/\0+$/, '');
}

function unitsPerSecond(tsresol: Uint8Array | undefined): number {
  if (tsresol === undefined || tsresol.byteLength < 1) return 1e6;
  const v = tsresol[0] as number;
  return v & 0x80 ? 2 ** (v & 0x7f) : 10 ** (v & 0x7f);
}

/**
 * Reads a pcapng file. Throws `bad-capture` (with the byte offset) for a file that is not pcapng
 * or whose blocks are inconsistent; a file cut short in its last block (a capture still being
 * written) yields the packets before that block.
 */
export function readPcapng(bytes: Uint8Array): PcapngFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const file: PcapngFile = { sections: [], packets: [] };
  let little = true;
  let at = 0;
  while (at + 12 <= bytes.byteLength) {
    let type = view.getUint32(at, little);
    if (type === BlockType.SectionHeader || view.getUint32(at, true) === BlockType.SectionHeader) {
      type = BlockType.SectionHeader;
      const magic = view.getUint32(at + 8, true);
      if (magic === BYTE_ORDER_MAGIC) little = true;
      else if (magic === 0x4d3c2b1a) little = false;
      else throw new TraceError('bad-capture', `byte ${at}: section header without the byte-order magic`);
    } else if (file.sections.length === 0) {
      throw new TraceError('bad-capture', 'not a pcapng file: it does not start with a Section Header Block');
    }
    const total = view.getUint32(at + 4, little);
    if (total < 12 || total % 4 !== 0) {
      throw new TraceError(
        'bad-capture',
        `byte ${at}: block length ${total} is not a multiple of 4 of at least 12`,
      );
    }
    if (at + total > bytes.byteLength) break; // cut short while being written
    if (view.getUint32(at + total - 4, little) !== total) {
      throw new TraceError('bad-capture', `byte ${at}: block's trailing length differs from its leading one`);
    }
    const body = at + 8;
    const end = at + total - 4;
    switch (type) {
      case BlockType.SectionHeader: {
        const options = readOptions(view, body + 16, end, little);
        file.sections.push({ interfaces: [], application: text(options, SHB_USERAPPL) });
        break;
      }
      case BlockType.InterfaceDescription: {
        const options = readOptions(view, body + 8, end, little);
        const name = text(options, IF_NAME);
        const description = text(options, IF_DESCRIPTION);
        file.sections.at(-1)?.interfaces.push({
          linkType: view.getUint16(body, little),
          snapLength: view.getUint32(body + 4, little),
          ...(name === undefined ? {} : { name }),
          ...(description === undefined ? {} : { description }),
          unitsPerSecond: unitsPerSecond(options.get(IF_TSRESOL)?.[0]),
        });
        break;
      }
      case BlockType.EnhancedPacket: {
        const section = file.sections.length - 1;
        const interfaceId = view.getUint32(body, little);
        const iface = file.sections[section]?.interfaces[interfaceId];
        if (iface === undefined) {
          throw new TraceError(
            'bad-capture',
            `byte ${at}: packet names interface ${interfaceId}, never described`,
          );
        }
        const ts =
          (BigInt(view.getUint32(body + 4, little)) << 32n) | BigInt(view.getUint32(body + 8, little));
        const captured = view.getUint32(body + 12, little);
        if (body + 20 + captured > end)
          throw new TraceError('bad-capture', `byte ${at}: packet data overruns its block`);
        const options = readOptions(view, body + 20 + pad4(captured), end, little);
        const flags = options.get(EPB_FLAGS)?.[0];
        const direction =
          flags !== undefined && flags.byteLength >= 4
            ? ((new DataView(flags.buffer, flags.byteOffset, 4).getUint32(0, little) & 3) as PacketDirection)
            : 0;
        file.packets.push({
          interfaceId,
          section,
          timeMicros: (ts * 1_000_000n) / BigInt(iface.unitsPerSecond),
          data: bytes.subarray(body + 20, body + 20 + captured),
          originalLength: view.getUint32(body + 16, little),
          direction,
        });
        break;
      }
      default:
        break; // other block types (statistics, name resolution...) carry nothing we use
    }
    at += total;
  }
  return file;
}
