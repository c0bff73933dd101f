/**
 * Registers as data: every device describes its registers in one table of {@link RegisterSpec}
 * (offset, width, name, reset value, access, behaviour), and its `read`/`write` dispatch through
 * a {@link RegisterMap} built from it. The same table documents the device and drives its tests.
 */

/** How the guest may access a register. */
export type RegisterAccess = 'ro' | 'wo' | 'rw';

/** One register of a device core. `TOwner` is the core whose state the handlers touch. */
export interface RegisterSpec<TOwner> {
  /** Offset within the BAR, in bytes. */
  readonly offset: number;
  /** Width in bytes. */
  readonly width: 1 | 2 | 4 | 8;
  /** Name as the datasheet or specification spells it. */
  readonly name: string;
  /** Value a read returns right after reset (for write-only registers: what a read returns). */
  readonly reset: number | bigint;
  /** What the guest may do with it. */
  readonly access: RegisterAccess;
  /** One line saying what the register does. */
  readonly description: string;
  /** Read handler; absent for write-only registers (the device decides what such a read returns). */
  readonly read?: (owner: TOwner) => number;
  /** Write handler; absent for read-only registers. */
  readonly write?: (owner: TOwner, value: number) => void;
}

/** Offset-indexed view of a register table. */
export class RegisterMap<TOwner> {
  /** The table, in offset order. */
  readonly registers: readonly RegisterSpec<TOwner>[];
  private readonly byOffset: ReadonlyMap<number, RegisterSpec<TOwner>>;

  /** Index `registers`; throws on two registers at one offset (a bug in the table). */
  constructor(registers: readonly RegisterSpec<TOwner>[]) {
    this.registers = [...registers].sort((a, b) => a.offset - b.offset);
    const byOffset = new Map<number, RegisterSpec<TOwner>>();
    for (const r of this.registers) {
      if (byOffset.has(r.offset))
        throw new Error(`register table: two registers at offset 0x${r.offset.toString(16)}`);
      byOffset.set(r.offset, r);
    }
    this.byOffset = byOffset;
  }

  /** The register that starts at `offset`, if any. */
  at(offset: number): RegisterSpec<TOwner> | undefined {
    return this.byOffset.get(offset);
  }

  /** The register named `name`; throws if the table has none (a bug in the caller). */
  named(name: string): RegisterSpec<TOwner> {
    const found = this.registers.find((r) => r.name === name);
    if (found === undefined) throw new Error(`register table: no register named ${name}`);
    return found;
  }
}
