/**
 * Register tables that are the whole MMIO/PIO implementation of a device: a table of registers
 * (offset, width, name, reset value, access, read/write side by side) and ranges (doorbells,
 * buffers), bound to one device as a {@link RegisterBank} that dispatches guest accesses by offset
 * and width, checks access sizes, logs guest errors, stores register values and resets them from
 * the table. This is QEMU's `hw/core/register.c` idea (RegisterAccessInfo: reset, ro, w1c,
 * pre/post hooks) with the access rules of a `MemoryRegionOps` in one place.
 */

import { MemoryRegion, type MemoryRegionOps, type MemoryRegionOps64, type MmioWrite64 } from '@vfu/memory';
import { type StructField, type VmField, vm } from '@vfu/vmstate';
import { DeviceError } from '../errors';
import { type DeviceLog, type GuestErrorEvent, silentDeviceLog } from '../interfaces';

/** Register width in bytes. */
export type RegisterWidth = 1 | 2 | 4 | 8;
/** Value type of a register: numbers up to 4 bytes, bigints for 8-byte registers. */
export type RegisterValue<W extends RegisterWidth> = W extends 8 ? bigint : number;
/** Access size of a guest access. */
export type AccessSize = 1 | 2 | 4 | 8;

/**
 * How the guest may access a register: `rw`, `ro` (writes ignored and logged), `wo` (reads give
 * the reset value), `w1c` (write 1 to clear: written bits are cleared, as interrupt status).
 */
export type RegisterAccess = 'rw' | 'ro' | 'wo' | 'w1c';

/** Options of one register entry; every field is optional. */
export interface RegisterOptions<D, V> {
  /** Value after reset (default 0). For `wo` registers also what a read returns. */
  readonly reset?: V;
  /** Default `rw`. */
  readonly access?: RegisterAccess;
  /** Bits the guest can write (default all); others keep their value. */
  readonly mask?: V;
  /** One line saying what the register does. */
  readonly doc?: string;
  /** Computes a read (default: the stored value). */
  readonly read?: (device: D) => V;
  /**
   * Handles a write of `value` (already masked and merged with the stored bits); default: store it.
   * A handler that wants the value stored calls `bank.set` itself.
   */
  readonly write?: (device: D, value: V) => void;
}

/** One register of a table (built by a {@link RegisterBuilder}, which types the handlers). */
export interface RegisterEntry<D> {
  readonly kind: 'register';
  readonly offset: number;
  readonly width: RegisterWidth;
  readonly name: string;
  /** Value after reset: a number up to 4 bytes, a bigint for 8. */
  readonly reset: number | bigint;
  readonly access: RegisterAccess;
  readonly mask: number | bigint | undefined;
  readonly doc: string;
  readonly read: ((device: D) => number | bigint) | undefined;
  readonly write: ((device: D, value: number | bigint) => void) | undefined;
}

/** A window of the BAR handed whole to a handler (doorbell arrays, buffers, FIFOs). */
export interface RangeEntry<D> {
  readonly kind: 'range';
  readonly offset: number;
  readonly size: number;
  readonly name: string;
  readonly doc: string;
  /** Read at `offset` relative to the range start (default: 0). */
  readonly read: ((device: D, offset: number, size: AccessSize) => number) | undefined;
  /** Write at `offset` relative to the range start (default: ignored and logged). */
  readonly write: ((device: D, offset: number, value: number, size: AccessSize) => void) | undefined;
}

/** Options of a range entry. */
export interface RangeOptions<D> {
  readonly doc?: string;
  readonly read?: (device: D, offset: number, size: AccessSize) => number;
  readonly write?: (device: D, offset: number, value: number, size: AccessSize) => void;
}

/** Anything a register table holds. */
export type TableEntry<D> = RegisterEntry<D> | RangeEntry<D>;

/**
 * How an access that does not cover a register exactly is handled:
 * - `bytes`: registers are byte-addressable storage (an access reads/merges the bytes it covers),
 *   as NVMe's or most PCIe devices' register files;
 * - `start`: only accesses starting at a register's offset reach it (value truncated or
 *   zero-extended), everything else is unassigned; QEMU devices that `switch (addr)` behave so.
 */
export type SubwordPolicy = 'bytes' | 'start';

/** Options of a register table. */
export interface RegisterTableOptions {
  /** Size of the BAR or window the table covers, in bytes. */
  readonly size: number;
  /** Smallest access the device accepts (default 1); smaller ones are refused and logged. */
  readonly minAccess?: AccessSize;
  /** Largest access the device accepts (default 4). */
  readonly maxAccess?: AccessSize;
  /** Extra rule on top of min/max (e.g. edu: 8-byte accesses only from 0x80 on). */
  readonly accepts?: (offset: number, size: AccessSize) => boolean;
  /** Whether unaligned accesses reach the table (default false: refused by the memory core). */
  readonly unaligned?: boolean;
  /** What reads of unassigned offsets return: `zero` (default) or `ones` (all bits set). */
  readonly unassigned?: 'zero' | 'ones';
  /** Default `bytes`. */
  readonly subword?: SubwordPolicy;
}

/** Entry builders with the device type fixed, handed to {@link registerTable}'s callback. */
export interface RegisterBuilder<D> {
  u8(offset: number, name: string, options?: RegisterOptions<D, number>): RegisterEntry<D>;
  u16(offset: number, name: string, options?: RegisterOptions<D, number>): RegisterEntry<D>;
  u32(offset: number, name: string, options?: RegisterOptions<D, number>): RegisterEntry<D>;
  u64(offset: number, name: string, options?: RegisterOptions<D, bigint>): RegisterEntry<D>;
  range(offset: number, size: number, name: string, options?: RangeOptions<D>): RangeEntry<D>;
}

const U64 = (1n << 64n) - 1n;

function numberEntry<D>(
  width: 1 | 2 | 4,
  offset: number,
  name: string,
  o: RegisterOptions<D, number>,
): RegisterEntry<D> {
  const { read, write } = o;
  return {
    kind: 'register',
    offset,
    width,
    name,
    reset: o.reset ?? 0,
    access: o.access ?? 'rw',
    mask: o.mask,
    doc: o.doc ?? '',
    read,
    write: write && ((d, v) => write(d, Number(v))),
  };
}

function builder<D>(): RegisterBuilder<D> {
  return {
    u8: (offset, name, o = {}) => numberEntry(1, offset, name, o),
    u16: (offset, name, o = {}) => numberEntry(2, offset, name, o),
    u32: (offset, name, o = {}) => numberEntry(4, offset, name, o),
    u64: (offset, name, o = {}) => {
      const { read, write } = o;
      return {
        kind: 'register',
        offset,
        width: 8,
        name,
        reset: o.reset ?? 0n,
        access: o.access ?? 'rw',
        mask: o.mask,
        doc: o.doc ?? '',
        read,
        write: write && ((d, v) => write(d, BigInt(v))),
      };
    },
    range: (offset, size, name, o = {}) => ({
      kind: 'range',
      offset,
      size,
      name,
      doc: o.doc ?? '',
      read: o.read,
      write: o.write,
    }),
  };
}

/**
 * Builds a register table for devices of type `D`:
 *
 * ```ts
 * const TABLE = registerTable<Doorbell>({ size: 0x1000, minAccess: 4 }, (r) => [
 *   r.u32(0x0, 'doorbell', { write: (d, v) => d.ring(v) }),
 *   r.u32(0x4, 'last value', { access: 'ro' }),
 * ]);
 * ```
 */
export function registerTable<D>(
  options: RegisterTableOptions,
  entries: (r: RegisterBuilder<D>) => readonly TableEntry<D>[],
): RegisterTable<D> {
  return new RegisterTable<D>(options, entries(builder<D>()));
}

/** A checked, offset-sorted register table; {@link RegisterTable.bind} makes a bank per device. */
export class RegisterTable<D> {
  readonly size: number;
  readonly minAccess: AccessSize;
  readonly maxAccess: AccessSize;
  readonly subword: SubwordPolicy;
  readonly unaligned: boolean;
  /** Value of an unassigned read of 4 bytes (wider or narrower reads truncate or extend it). */
  readonly unassignedOnes: boolean;
  /** Entries in offset order. */
  readonly entries: readonly TableEntry<D>[];
  /** Registers only, in offset order. */
  readonly registers: readonly RegisterEntry<D>[];
  readonly #accepts: ((offset: number, size: AccessSize) => boolean) | undefined;
  /** Entry covering each 4-byte-aligned slot (index offset >> 2), for O(1) dispatch. */
  readonly #slots: Int32Array;
  readonly #byName = new Map<string, RegisterEntry<D>>();

  constructor(options: RegisterTableOptions, entries: readonly TableEntry<D>[]) {
    const bad = (why: string) => new DeviceError('invalid-argument', `register table: ${why}`, {});
    this.size = options.size;
    this.minAccess = options.minAccess ?? 1;
    this.maxAccess = options.maxAccess ?? 4;
    this.subword = options.subword ?? 'bytes';
    this.unaligned = options.unaligned ?? false;
    this.unassignedOnes = options.unassigned === 'ones';
    this.#accepts = options.accepts;
    if (!Number.isInteger(this.size) || this.size <= 0) throw bad(`size ${this.size} must be > 0`);
    this.entries = [...entries].sort((a, b) => a.offset - b.offset);
    this.registers = this.entries.filter((e): e is RegisterEntry<D> => e.kind === 'register');
    let end = 0;
    for (const e of this.entries) {
      const len = e.kind === 'register' ? e.width : e.size;
      if (e.offset < end) throw bad(`'${e.name}' at 0x${e.offset.toString(16)} overlaps the entry before it`);
      if (e.offset + len > this.size)
        throw bad(`'${e.name}' ends past the table size 0x${this.size.toString(16)}`);
      if (e.kind === 'register') {
        if (e.offset % e.width !== 0)
          throw bad(`register '${e.name}' at 0x${e.offset.toString(16)} is not aligned`);
        if (this.#byName.has(e.name)) throw bad(`two registers named '${e.name}'`);
        this.#byName.set(e.name, e);
      }
      end = e.offset + len;
    }
    // Slots of 4 bytes: a register narrower than 4 bytes shares its slot with its neighbours, so
    // the slot keeps the first entry and lookup walks on from there.
    this.#slots = new Int32Array(Math.ceil(this.size / 4)).fill(-1);
    this.entries.forEach((e, i) => {
      const len = e.kind === 'register' ? e.width : e.size;
      for (let s = e.offset >> 2; s <= (e.offset + len - 1) >> 2; s++) {
        if (this.#slots[s] === -1) this.#slots[s] = i;
      }
    });
  }

  /** The register named `name`; throws if there is none (a bug in the device). */
  named(name: string): RegisterEntry<D> {
    const found = this.#byName.get(name);
    if (found === undefined) {
      throw new DeviceError('invalid-argument', `register table: no register named '${name}'`, {
        property: name,
      });
    }
    return found;
  }

  /** The entry covering `offset`, if any. */
  at(offset: number): TableEntry<D> | undefined {
    if (offset < 0 || offset >= this.size) return undefined;
    const first = this.#slots[offset >> 2] as number;
    if (first < 0) return undefined;
    for (let i = first; i < this.entries.length; i++) {
      const e = this.entries[i] as TableEntry<D>;
      if (e.offset > offset) return undefined;
      if (offset < e.offset + (e.kind === 'register' ? e.width : e.size)) return e;
    }
    return undefined;
  }

  /** Whether an access of `size` bytes at `offset` is one the device accepts. */
  accepts(offset: number, size: AccessSize): boolean {
    if (size < this.minAccess || size > this.maxAccess) return false;
    if (!this.unaligned && offset % size !== 0) return false;
    return this.#accepts === undefined || this.#accepts(offset, size);
  }

  /** Register values after reset, by name. */
  resetValues(): Record<string, number | bigint> {
    const out: Record<string, number | bigint> = {};
    for (const r of this.registers) out[r.name] = r.reset;
    return out;
  }

  /**
   * The registers as one state field (a struct of each register by name and width), for a
   * device's state schema: `registers: table.stateField()`.
   */
  stateField(): StructField<Record<string, VmField>> {
    const fields: Record<string, VmField> = {};
    for (const r of this.registers) {
      fields[r.name] =
        r.width === 8 ? vm.u64() : r.width === 4 ? vm.u32() : r.width === 2 ? vm.u16() : vm.u8();
    }
    return vm.struct(fields);
  }

  /** A bank of this table bound to `device`, logging guest errors as `deviceName`. */
  bind(device: D, options: { log?: DeviceLog; deviceName: string }): RegisterBank<D> {
    return new RegisterBank(this, device, options.log ?? silentDeviceLog, options.deviceName);
  }
}

/** The saved form of a bank: register values by name (structured-clone safe). */
export type RegisterValues = Readonly<Record<string, number | bigint>>;

/**
 * A register table bound to one device: the stored values, the dispatch of guest accesses and the
 * guest-error log. `read`/`write` take 1-4 byte accesses as numbers, `read64`/`write64` 8-byte
 * ones as bigints.
 */
export class RegisterBank<D> {
  readonly table: RegisterTable<D>;
  readonly #device: D;
  readonly #log: DeviceLog;
  readonly #deviceName: string;
  #values: Record<string, number | bigint>;

  constructor(table: RegisterTable<D>, device: D, log: DeviceLog, deviceName: string) {
    this.table = table;
    this.#device = device;
    this.#log = log;
    this.#deviceName = deviceName;
    this.#values = table.resetValues();
  }

  /** Stored value of a register up to 4 bytes wide. */
  u32(name: string): number {
    const v = this.#stored(name);
    return typeof v === 'number' ? v : Number(v & 0xffff_ffffn);
  }

  /** Stored value of an 8-byte register. */
  u64(name: string): bigint {
    const v = this.#stored(name);
    return typeof v === 'bigint' ? v : BigInt(v);
  }

  /** Stores a register value (truncated to its width); no side effects. */
  set(name: string, value: number | bigint): void {
    const reg = this.table.named(name);
    this.#values[name] = truncate(reg.width, value);
  }

  /** Every register back to its table reset value. */
  reset(): void {
    this.#values = this.table.resetValues();
  }

  /** The stored values, for saving state. */
  save(): RegisterValues {
    return { ...this.#values };
  }

  /**
   * Replaces the stored values with saved ones after checking every name, type and range; throws
   * `invalid-state` naming the register otherwise (nothing is applied then).
   */
  load(values: unknown): void {
    if (typeof values !== 'object' || values === null) {
      throw new DeviceError('invalid-state', `${this.#deviceName}: saved registers are not an object`, {
        deviceType: this.#deviceName,
      });
    }
    const next = this.table.resetValues();
    for (const [name, v] of Object.entries(values)) {
      const reg = this.table.registers.find((r) => r.name === name);
      const ok =
        reg !== undefined &&
        (reg.width === 8
          ? typeof v === 'bigint' && v >= 0n && v <= U64
          : typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** (8 * reg.width));
      if (!ok) {
        throw new DeviceError('invalid-state', `${this.#deviceName}: saved register '${name}' is invalid`, {
          deviceType: this.#deviceName,
          property: name,
          value: v,
        });
      }
      next[name] = v;
    }
    this.#values = next;
  }

  /** A guest read of 1, 2 or 4 bytes (a refused one reads as an unassigned offset). */
  read(offset: number, size: 1 | 2 | 4): number {
    if (!this.#check(offset, size, undefined)) return Number(this.#unassigned(size));
    return this.#fastRead(offset, size) ?? Number(this.#read(offset, size) & 0xffff_ffffn);
  }

  /** A guest write of 1, 2 or 4 bytes. */
  write(offset: number, value: number, size: 1 | 2 | 4): void {
    if (!this.#check(offset, size, value)) return;
    if (!this.#fastWrite(offset, value, size)) this.#write(offset, BigInt(value >>> 0) & mask(size), size);
  }

  /** A guest read of 8 bytes. */
  read64(offset: number): bigint {
    if (!this.#check(offset, 8, undefined)) return this.#unassigned(8);
    return this.#read(offset, 8);
  }

  /** A guest write of 8 bytes. */
  write64(offset: number, value: bigint): void {
    if (!this.#check(offset, 8, value)) return;
    this.#write(offset, BigInt.asUintN(64, value), 8);
  }

  /**
   * The bank as memory-region callbacks: the memory core refuses sizes and alignments outside
   * the table's `minAccess`/`maxAccess`/`unaligned` (QEMU's `valid`), and hands everything else
   * through whole, 8-byte accesses included (as QEMU's `impl.max_access_size = 8`).
   */
  ops(): MemoryRegionOps | MemoryRegionOps64 {
    return this.table.maxAccess === 8 ? this.#ops64() : this.#ops32();
  }

  #ops64(): MemoryRegionOps64 {
    const t = this.table;
    return {
      read: (offset: number, size: AccessSize) =>
        size === 8 ? this.read64(offset) : this.read(offset, size),
      write: (...access: MmioWrite64) => {
        if (access[2] === 8) this.write64(access[0], access[1]);
        else this.write(access[0], access[1], access[2]);
      },
      valid: { minAccessSize: t.minAccess, maxAccessSize: t.maxAccess, unaligned: t.unaligned },
      impl: { minAccessSize: t.minAccess, maxAccessSize: 8, unaligned: t.unaligned },
    };
  }

  #ops32(): MemoryRegionOps {
    const t = this.table;
    const narrow = (size: AccessSize): 1 | 2 | 4 => (size === 8 ? 4 : size);
    return {
      read: (offset: number, size: 1 | 2 | 4) => this.read(offset, size),
      write: (offset: number, value: number, size: 1 | 2 | 4) => this.write(offset, value, size),
      valid: { minAccessSize: t.minAccess, maxAccessSize: t.maxAccess, unaligned: t.unaligned },
      impl: {
        minAccessSize: narrow(t.minAccess),
        maxAccessSize: narrow(t.maxAccess),
        unaligned: t.unaligned,
      },
    };
  }

  /** An MMIO/PIO MemoryRegion over the bank, named `name`, sized as the table. */
  region(name: string, owner?: object): MemoryRegion {
    const opts = owner === undefined ? {} : { owner };
    const size = BigInt(this.table.size);
    return this.table.maxAccess === 8
      ? MemoryRegion.io(name, size, this.#ops64(), opts)
      : MemoryRegion.io(name, size, this.#ops32(), opts);
  }

  /** Reports a guest error against this device (register named from the offset when known). */
  guestError(
    message: string,
    offset?: number,
    size?: number,
    value?: number | bigint,
    _isWrite?: boolean,
  ): void {
    const e = offset === undefined ? undefined : this.table.at(offset);
    const event: GuestErrorEvent = {
      device: this.#deviceName,
      message,
      ...(e === undefined ? {} : { register: e.name }),
      ...(offset === undefined ? {} : { offset }),
      ...(size === undefined ? {} : { size }),
      ...(value === undefined ? {} : { value }),
    };
    this.#log.guestError(event);
  }

  #stored(name: string): number | bigint {
    const v = this.#values[name];
    if (v === undefined) this.table.named(name);
    return v as number | bigint;
  }

  #check(offset: number, size: AccessSize, value: number | bigint | undefined): boolean {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.table.size) {
      this.guestError('access outside the register window', offset, size, value);
      return false;
    }
    if (!this.table.accepts(offset, size)) {
      const unaligned = !this.table.unaligned && offset % size !== 0;
      this.guestError(
        unaligned ? 'unaligned access refused' : `access of ${size} bytes refused`,
        offset,
        size,
        value,
      );
      return false;
    }
    return true;
  }

  /** Exact hits on number registers and ranges without bigint arithmetic (doorbells are hot). */
  #fastRead(offset: number, size: 1 | 2 | 4): number | undefined {
    const e = this.table.at(offset);
    if (e === undefined) return undefined;
    if (e.kind === 'range') {
      return e.read === undefined ? 0 : e.read(this.#device, offset - e.offset, size) >>> 0;
    }
    if (e.offset !== offset || e.width !== size || e.access === 'wo') return undefined;
    const v = e.read === undefined ? this.#values[e.name] : e.read(this.#device);
    return typeof v === 'number' ? v >>> 0 : undefined;
  }

  #fastWrite(offset: number, value: number, size: 1 | 2 | 4): boolean {
    const e = this.table.at(offset);
    if (e === undefined) return false;
    if (e.kind === 'range') {
      if (e.write === undefined) return false;
      e.write(this.#device, offset - e.offset, value >>> 0, size);
      return true;
    }
    if (e.offset !== offset || e.width !== size || e.access !== 'rw' || e.mask !== undefined) return false;
    const v = size === 4 ? value >>> 0 : value & (size === 2 ? 0xffff : 0xff);
    if (e.write === undefined) this.#values[e.name] = v;
    else e.write(this.#device, v);
    return true;
  }

  #read(offset: number, size: AccessSize): bigint {
    const e = this.table.at(offset);
    if (e === undefined) return this.#unassigned(size);
    if (e.kind === 'range') {
      if (e.read === undefined) return 0n;
      if (size === 8) {
        const lo = e.read(this.#device, offset - e.offset, 4) >>> 0;
        const hi = e.read(this.#device, offset - e.offset + 4, 4) >>> 0;
        return (BigInt(hi) << 32n) | BigInt(lo);
      }
      return BigInt(e.read(this.#device, offset - e.offset, size) >>> 0) & mask(size);
    }
    if (this.table.subword === 'start') {
      return e.offset === offset ? this.#readRegister(e) & mask(size) : this.#unassigned(size);
    }
    // Byte-addressable: gather the bytes of every register the access covers.
    let out = 0n;
    for (let at = offset; at < offset + size; ) {
      const r = this.table.at(at);
      if (r === undefined || r.kind === 'range') {
        at++;
        continue;
      }
      const v = this.#readRegister(r);
      const from = Math.max(at, r.offset);
      const to = Math.min(offset + size, r.offset + r.width);
      const bytes = (v >> BigInt(8 * (from - r.offset))) & mask(to - from);
      out |= bytes << BigInt(8 * (from - offset));
      at = to;
    }
    return out;
  }

  #write(offset: number, value: bigint, size: AccessSize): void {
    const e = this.table.at(offset);
    if (e === undefined) {
      this.guestError('write to an unassigned offset ignored', offset, size, value);
      return;
    }
    if (e.kind === 'range') {
      if (e.write === undefined) {
        this.guestError('write to a read-only range ignored', offset, size, value);
      } else if (size === 8) {
        e.write(this.#device, offset - e.offset, Number(value & 0xffff_ffffn), 4);
        e.write(this.#device, offset - e.offset + 4, Number(value >> 32n), 4);
      } else {
        e.write(this.#device, offset - e.offset, Number(value), size);
      }
      return;
    }
    if (this.table.subword === 'start') {
      if (e.offset !== offset) this.guestError('write to an unassigned offset ignored', offset, size, value);
      else this.#writeRegister(e, value, offset, size);
      return;
    }
    for (let at = offset; at < offset + size; ) {
      const r = this.table.at(at);
      if (r === undefined || r.kind === 'range') {
        at++;
        continue;
      }
      const from = Math.max(at, r.offset);
      const to = Math.min(offset + size, r.offset + r.width);
      const shift = BigInt(8 * (from - r.offset));
      const bits = mask(to - from) << shift;
      const part = ((value >> BigInt(8 * (from - offset))) << shift) & bits;
      const stored = BigInt(this.#values[r.name] as number | bigint);
      // A partial write of a w1c register clears only the written bits' ones.
      const merged = r.access === 'w1c' ? part : (stored & ~bits) | part;
      this.#writeRegister(r, merged, offset, size);
      at = to;
    }
  }

  #readRegister(r: RegisterEntry<D>): bigint {
    if (r.access === 'wo') return BigInt(r.reset);
    const v = r.read === undefined ? this.#values[r.name] : r.read(this.#device);
    return BigInt.asUintN(8 * r.width, BigInt(v as number | bigint));
  }

  #writeRegister(r: RegisterEntry<D>, value: bigint, offset: number, size: AccessSize): void {
    if (r.access === 'ro') {
      this.guestError('write to a read-only register ignored', offset, size, value);
      return;
    }
    const stored = BigInt(this.#values[r.name] as number | bigint);
    const writable = r.mask === undefined ? mask(r.width) : BigInt(r.mask);
    let next = (stored & ~writable) | (value & writable);
    if (r.access === 'w1c') next = stored & ~(value & writable);
    const typed = truncate(r.width, next);
    if (r.write === undefined) this.#values[r.name] = typed;
    else r.write(this.#device, typed);
  }

  #unassigned(size: AccessSize): bigint {
    return this.table.unassignedOnes ? mask(size) : 0n;
  }
}

function mask(size: number): bigint {
  return (1n << BigInt(8 * size)) - 1n;
}

function truncate(width: RegisterWidth, value: number | bigint): number | bigint {
  const v = BigInt.asUintN(8 * width, BigInt(value));
  return width === 8 ? v : Number(v);
}
