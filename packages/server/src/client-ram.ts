/**
 * Client memory shared by fd (DMA_MAP with an fd), as the region placed in the bus DMA space.
 *
 * Up to DMA_WINDOW bytes it is one RAM region over one ArrayBuffer. Larger (guest RAM above 4 GiB),
 * it is a container of DMA_WINDOW-sized windows over the one native mapping, each made on the
 * first device access that reaches it: until then a window is an asynchronous placeholder whose
 * first access swaps the RAM window in and completes on it. Windows are made lazily because V8
 * runs about one full GC per large ArrayBuffer it is handed (it counts their bytes as external
 * memory): 256 eager windows for 1 TiB of sparse guest RAM froze the server for over 5 s.
 */
import { MemoryRegion } from '@vfu/memory';
import type { PciRootBus } from '@vfu/pci';
import { MappedRegion } from '@vfu/sys';

/**
 * Window size: the largest power of two one ArrayBuffer can hold (4 GiB on Node 20), and so a
 * multiple of every logging page size (at most 1 GiB): the windows' dirty bitmaps join unshifted.
 */
export const DMA_WINDOW = 2 ** Math.max(30, Math.min(52, Math.floor(Math.log2(MappedRegion.MAX_VIEW))));

/**
 * Work of a dirty report (logged pages scanned plus report bits set) done between two yields to
 * the event loop: a report over guest RAM of many GiB must not stall the other endpoints.
 */
export const REPORT_SLICE = 1 << 18;

/** What a client RAM mapping needs to know about its mapping. */
export interface ClientRamInit {
  bus: PciRootBus;
  name: string;
  memory: MappedRegion;
  /** Offset of the mapping's first byte in `memory` (the fd offset's distance from its page). */
  delta: number;
  size: bigint;
  canRead: boolean;
  canWrite: boolean;
  owner: unknown;
  /** Refusal of an access the map flags do not allow. */
  refuse: (what: 'read' | 'write') => Error;
  /** Failure of an access that met memory the client took away (the mapping is poisoned). */
  lost: () => Error;
}

export class ClientRam {
  /** The region placed in the DMA space. */
  readonly region: MemoryRegion;
  readonly #init: ClientRamInit;
  /** RAM regions by window index; undefined until made. */
  readonly #windows: (MemoryRegion | undefined)[];
  readonly #placeholders: (MemoryRegion | undefined)[];
  readonly #views: (Uint8Array | undefined)[];
  #loggingPageSize: number | undefined;

  constructor(init: ClientRamInit) {
    this.#init = init;
    const { name, size, canRead, canWrite, owner } = init;
    const count = Math.ceil(Number(size) / DMA_WINDOW);
    this.#windows = new Array(count);
    this.#placeholders = new Array(count);
    this.#views = new Array(count);
    if (!canRead) {
      // Write-only memory: RAM cannot refuse reads, so the region checks each access itself.
      this.region = MemoryRegion.asyncIo(
        name,
        size,
        {
          read: async () => {
            throw init.refuse('read');
          },
          write: async (offset, data) => {
            this.#store(Number(offset), data);
            this.#checkLost();
          },
        },
        { owner },
      );
    } else if (count === 1) {
      const ram = MemoryRegion.ram(name, size, {
        backing: this.#view(0),
        readonly: !canWrite,
        owner,
        ...this.#lostCell(),
      });
      this.#windows[0] = ram;
      this.region = ram;
    } else {
      this.region = MemoryRegion.container(name, size, { owner });
      for (let k = 0; k < count; k++) {
        const placeholder = MemoryRegion.asyncIo(
          `${name} window ${k} (not yet touched)`,
          this.#windowSize(k),
          {
            read: async (offset, dest) => {
              dest.set(
                this.#materialize(k).ramBuffer!.subarray(Number(offset), Number(offset) + dest.length),
              );
            },
            write: async (offset, data) => {
              if (!canWrite) throw init.refuse('write');
              const ram = this.#materialize(k);
              ram.ramBuffer!.set(data, Number(offset));
              ram.markDirty(offset, BigInt(data.length));
            },
          },
          { owner },
        );
        this.#placeholders[k] = placeholder;
        this.region.addSubregion(BigInt(k) * BigInt(DMA_WINDOW), placeholder);
      }
    }
  }

  /** Whether the device can read it as RAM (else write-only, checked per access). */
  get isRam(): boolean {
    return this.#init.canRead;
  }

  /** Starts (page size) or stops (undefined) dirty logging of the RAM windows, made and future. */
  setLogging(pageSize: number | undefined): void {
    this.#loggingPageSize = pageSize;
    for (const w of this.#windows) {
      if (w === undefined) continue;
      if (pageSize === undefined) w.setDirtyLogging(false);
      else w.setDirtyLogging(true, pageSize);
    }
  }

  /**
   * Calls `dirty(page)` for every page (of the logging page size, counted from the mapping's start)
   * written since the last call, and clears them. Windows never made were never written. `dirty`
   * returns the work it did (bits set); the scan yields to the event loop every
   * {@link REPORT_SLICE} units of work. Pages written meanwhile are left for the next call.
   */
  async takeDirty(dirty: (page: number) => number): Promise<void> {
    const logged = this.#loggingPageSize;
    if (logged === undefined) return;
    let budget = REPORT_SLICE;
    for (const [k, w] of this.#windows.entries()) {
      if (w === undefined) continue;
      const bits = w.getAndClearDirty(0n, w.size);
      const base = (k * DMA_WINDOW) / logged;
      const pages = Math.ceil(Number(w.size) / logged);
      for (let byte = 0; byte < bits.length; byte++) {
        budget -= 8;
        const b = bits[byte] ?? 0;
        if (b !== 0) {
          for (let bit = 0; bit < 8; bit++) {
            const i = byte * 8 + bit;
            if ((b & (1 << bit)) !== 0 && i < pages) budget -= dirty(base + i);
          }
        }
        if (budget <= 0) {
          budget = REPORT_SLICE;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    }
  }

  /** The guard's poison word, so the memory core fails accesses made after the memory vanished. */
  #lostCell(): { backingLost?: Int32Array } {
    const cell = this.#init.memory.poisonFlag;
    return cell === undefined ? {} : { backingLost: cell };
  }

  #checkLost(): void {
    if (this.#init.memory.poisoned) throw this.#init.lost();
  }

  #windowSize(k: number): bigint {
    const start = BigInt(k) * BigInt(DMA_WINDOW);
    const end = start + BigInt(DMA_WINDOW);
    return (end < this.#init.size ? end : this.#init.size) - start;
  }

  #view(k: number): Uint8Array {
    let v = this.#views[k];
    if (v === undefined) {
      const start = this.#init.delta + k * DMA_WINDOW;
      v = this.#init.memory.bytes(start, start + Number(this.#windowSize(k)));
      this.#views[k] = v;
    }
    return v;
  }

  /** Window `k` as RAM, swapped in for its placeholder on first use. */
  #materialize(k: number): MemoryRegion {
    const made = this.#windows[k];
    if (made !== undefined) return made;
    const { bus, name, canWrite, owner } = this.#init;
    const ram = MemoryRegion.ram(`${name} window ${k}`, this.#windowSize(k), {
      backing: this.#view(k),
      readonly: !canWrite,
      owner,
      ...this.#lostCell(),
    });
    if (this.#loggingPageSize !== undefined) ram.setDirtyLogging(true, this.#loggingPageSize);
    const placeholder = this.#placeholders[k]!;
    this.#windows[k] = ram;
    this.#placeholders[k] = undefined;
    bus.memoryContext.transaction(() => {
      this.region.removeSubregion(placeholder);
      this.region.addSubregion(BigInt(k) * BigInt(DMA_WINDOW), ram);
    });
    return ram;
  }

  /** A store into write-only memory, across windows. */
  #store(offset: number, data: Uint8Array): void {
    for (let done = 0; done < data.length; ) {
      const at = offset + done;
      const k = Math.floor(at / DMA_WINDOW);
      const within = at - k * DMA_WINDOW;
      const n = Math.min(data.length - done, DMA_WINDOW - within);
      this.#view(k).set(data.subarray(done, done + n), within);
      done += n;
    }
  }
}
