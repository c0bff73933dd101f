/**
 * Region access: through the mmap of an area the server offered when the range lies in one,
 * else with REGION_READ / REGION_WRITE (and REGION_WRITE_MULTI) messages of at most the
 * negotiated transfer size.
 */
import {
  Command,
  type NegotiatedCapabilities,
  REGION_WRITE_MULTI_MAX_DATA,
  REGION_WRITE_MULTI_MAX_ENTRIES,
} from '@vfu/protocol';
import { ClientError } from './errors';
import type { MmapArea } from './handshake';
import type { ClientLink } from './link';
import { checkRegionWriteReply, type RegionInfo, regionReadData } from './replies';

/** One region write of {@link VfioUserClient.regionWriteMulti}. */
export interface RegionWriteEntry {
  region: number;
  offset: bigint | number;
  /** At most 8 bytes. */
  data: Uint8Array;
}

/** An offset or size given as a number or a bigint, checked non-negative. */
export function toBigInt(v: bigint | number, what: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n) throw new ClientError('invalid-argument', `${what} must not be negative, got ${v}`);
    return v;
  }
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new ClientError('invalid-argument', `${what} must be a non-negative integer, got ${v}`);
  }
  return BigInt(v);
}

/** Reads and writes of the device's regions. */
export class RegionIo {
  readonly #link: ClientLink;
  readonly #regions: readonly RegionInfo[];
  readonly #negotiated: NegotiatedCapabilities;
  readonly #mmapAreas: Map<number, MmapArea[]>;

  constructor(
    link: ClientLink,
    regions: readonly RegionInfo[],
    negotiated: NegotiatedCapabilities,
    mmapAreas: Map<number, MmapArea[]>,
  ) {
    this.#link = link;
    this.#regions = regions;
    this.#negotiated = negotiated;
    this.#mmapAreas = mmapAreas;
  }

  /** The largest data count of one REGION_READ/WRITE (the smaller of both sides' limits). */
  get maxTransferSize(): number {
    return Math.min(this.#negotiated.maxSendDataXferSize, this.#negotiated.maxRecvDataXferSize);
  }

  region(index: number): RegionInfo {
    const r = this.#regions[index];
    if (r === undefined) {
      throw new ClientError(
        'invalid-argument',
        `region ${index} does not exist (device has ${this.#regions.length})`,
        {
          region: index,
        },
      );
    }
    return r;
  }

  isMmapped(index: number, offset: bigint | number, length: number): boolean {
    return this.#mmapFor(index, toBigInt(offset, 'offset'), length) !== undefined;
  }

  async read(index: number, offset: bigint | number, length: number): Promise<Uint8Array> {
    const off = this.#checkAccess(index, offset, length, 'read');
    const direct = this.#mmapFor(index, off, length);
    if (direct !== undefined) return direct.slice();
    const chunk = this.maxTransferSize;
    if (length <= chunk) return this.#readMessage(index, off, length);
    const out = new Uint8Array(length);
    for (let done = 0; done < length; done += chunk) {
      const n = Math.min(chunk, length - done);
      out.set(await this.#readMessage(index, off + BigInt(done), n), done);
    }
    return out;
  }

  async write(index: number, offset: bigint | number, data: Uint8Array, posted: boolean): Promise<void> {
    const off = this.#checkAccess(index, offset, data.length, 'write');
    const direct = this.#mmapFor(index, off, data.length);
    if (direct !== undefined) {
      direct.set(data);
      return;
    }
    const chunk = this.maxTransferSize;
    for (let done = 0; done < data.length || (done === 0 && data.length === 0); done += chunk) {
      const part = data.subarray(done, Math.min(data.length, done + chunk));
      await this.#writeMessage(index, off + BigInt(done), part, posted);
      if (data.length === 0) break;
    }
  }

  async writeMulti(writes: readonly RegionWriteEntry[]): Promise<void> {
    const entries = writes.map((w) => {
      if (w.data.length === 0 || w.data.length > REGION_WRITE_MULTI_MAX_DATA) {
        throw new ClientError(
          'invalid-argument',
          `a multi-write entry holds 1..${REGION_WRITE_MULTI_MAX_DATA} bytes, got ${w.data.length}`,
          { region: w.region },
        );
      }
      return {
        region: w.region,
        offset: this.#checkAccess(w.region, w.offset, w.data.length, 'write'),
        data: w.data,
      };
    });
    if (!this.#negotiated.writeMultiple) {
      for (const e of entries) await this.write(e.region, e.offset, e.data, false);
      return;
    }
    for (let i = 0; i < entries.length; i += REGION_WRITE_MULTI_MAX_ENTRIES) {
      const batch = entries.slice(i, i + REGION_WRITE_MULTI_MAX_ENTRIES);
      const reply = await this.#link.call(Command.RegionWriteMulti, { writes: batch });
      if (reply.body.wrCnt !== BigInt(batch.length)) {
        throw new ClientError(
          'bad-reply',
          `REGION_WRITE_MULTI completed ${reply.body.wrCnt} of ${batch.length} writes`,
          {
            command: Command.RegionWriteMulti,
          },
        );
      }
    }
  }

  /** Unmaps every mmapped area. */
  unmapAll(): void {
    for (const areas of this.#mmapAreas.values()) for (const a of areas) a.mapping.unmap();
    this.#mmapAreas.clear();
  }

  #checkAccess(index: number, offset: bigint | number, length: number, what: 'read' | 'write'): bigint {
    const command = what === 'read' ? Command.RegionRead : Command.RegionWrite;
    this.#link.checkOpen(command);
    const region = this.region(index);
    const off = toBigInt(offset, 'offset');
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new ClientError('invalid-argument', `length must be a non-negative integer, got ${length}`, {
        region: index,
      });
    }
    if (off + BigInt(length) > region.size) {
      throw new ClientError(
        'out-of-range',
        `${what} 0x${off.toString(16)}+0x${length.toString(16)} outside ${region.name} (size 0x${region.size.toString(16)})`,
        { region: index, command },
      );
    }
    return off;
  }

  #mmapFor(index: number, offset: bigint, length: number): Uint8Array | undefined {
    const areas = this.#mmapAreas.get(index);
    if (areas === undefined || length === 0) return undefined;
    for (const a of areas) {
      if (offset >= a.offset && offset + BigInt(length) <= a.offset + a.size) {
        const start = Number(offset - a.offset);
        return a.mapping.bytes(start, start + length);
      }
    }
    return undefined;
  }

  async #readMessage(index: number, offset: bigint, count: number): Promise<Uint8Array> {
    const req = { offset, region: index, count };
    const reply = await this.#link.call(Command.RegionRead, req);
    return regionReadData(req, reply.body);
  }

  async #writeMessage(index: number, offset: bigint, data: Uint8Array, posted: boolean): Promise<void> {
    const req = { offset, region: index, count: data.length, data };
    if (posted) {
      await this.#link.post(Command.RegionWrite, req);
      return;
    }
    const reply = await this.#link.call(Command.RegionWrite, req);
    checkRegionWriteReply(req, reply.body);
  }
}
