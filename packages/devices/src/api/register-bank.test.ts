import { MemoryContext } from '@vfu/memory';
import { describe, expect, test } from 'vitest';
import { RecordingLog } from '../../test/helpers';
import { registerTable } from './register-bank';

/** A device whose handlers record what reached them. */
class Dev {
  readonly calls: string[] = [];
  readonly regs;
  constructor(table: typeof BYTES, log = new RecordingLog()) {
    this.regs = table.bind(this, { log, deviceName: 'dev' });
  }
}

const BYTES = registerTable<Dev>({ size: 0x100, maxAccess: 8 }, (r) => [
  r.u32(0x00, 'id', { access: 'ro', reset: 0x1234abcd }),
  r.u32(0x04, 'ctrl', { mask: 0x0000_00ff }),
  r.u32(0x08, 'status', { access: 'w1c', reset: 0b1111 }),
  r.u32(0x0c, 'cmd', { access: 'wo', reset: 0xffff_ffff, write: (d, v) => d.calls.push(`cmd ${v}`) }),
  r.u64(0x10, 'base', { write: (d, v) => d.regs.set('base', v & ~0xfffn) }),
  r.u8(0x18, 'b0'),
  r.u8(0x19, 'b1'),
  r.range(0x80, 0x80, 'doorbells', {
    read: (_d, off) => off,
    write: (d, off, v, size) => d.calls.push(`db ${off} ${v} ${size}`),
  }),
]);

describe('register table', () => {
  test('reset values come from the table, and reset() restores them', () => {
    const d = new Dev(BYTES);
    expect(d.regs.read(0x00, 4)).toBe(0x1234abcd);
    expect(d.regs.read(0x08, 4)).toBe(0b1111);
    d.regs.write(0x04, 0xffff, 4);
    expect(d.regs.read(0x04, 4)).toBe(0xff); // masked
    d.regs.reset();
    expect(d.regs.read(0x04, 4)).toBe(0);
  });

  test('ro writes are ignored and logged once with the register name; wo reads give reset', () => {
    const log = new RecordingLog();
    const d = new Dev(BYTES, log);
    d.regs.write(0x00, 5, 4);
    expect(d.regs.read(0x00, 4)).toBe(0x1234abcd);
    expect(log.guestErrors).toEqual([
      expect.objectContaining({ device: 'dev', register: 'id', offset: 0, size: 4, value: 5n }),
    ]);
    d.regs.write(0x0c, 7, 4);
    expect(d.calls).toEqual(['cmd 7']);
    expect(d.regs.read(0x0c, 4)).toBe(0xffff_ffff);
  });

  test('w1c clears the written ones', () => {
    const d = new Dev(BYTES);
    d.regs.write(0x08, 0b0101, 4);
    expect(d.regs.read(0x08, 4)).toBe(0b1010);
    d.regs.write(0x08, 0b1000, 1);
    expect(d.regs.read(0x08, 4)).toBe(0b0010);
  });

  test('bytes policy: partial reads and writes of 8-byte and neighbouring registers', () => {
    const d = new Dev(BYTES);
    d.regs.write64(0x10, 0x1122_3344_5566_7fffn);
    expect(d.regs.read64(0x10)).toBe(0x1122_3344_5566_7000n);
    expect(d.regs.read(0x14, 4)).toBe(0x1122_3344);
    d.regs.write(0x14, 0xaabb_ccdd, 4);
    expect(d.regs.u64('base')).toBe(0xaabb_ccdd_5566_7000n);
    d.regs.write(0x18, 0xbeef, 2); // spans b0 and b1
    expect(d.regs.u32('b0')).toBe(0xef);
    expect(d.regs.u32('b1')).toBe(0xbe);
    expect(d.regs.read(0x18, 2)).toBe(0xbeef);
  });

  test('ranges get offsets relative to their start, 8-byte accesses as two halves', () => {
    const d = new Dev(BYTES);
    d.regs.write(0x88, 3, 4);
    d.regs.write64(0x90, 0x0000_0002_0000_0001n);
    expect(d.calls).toEqual(['db 8 3 4', 'db 16 1 4', 'db 20 2 4']);
    expect(d.regs.read(0x84, 4)).toBe(4);
  });

  test('unassigned offsets read zero (or ones) and writes are logged', () => {
    const log = new RecordingLog();
    const d = new Dev(BYTES, log);
    expect(d.regs.read(0x40, 4)).toBe(0);
    d.regs.write(0x40, 1, 4);
    expect(log.guestErrors.at(-1)).toMatchObject({
      message: 'write to an unassigned offset ignored',
      offset: 0x40,
    });
    const ones = registerTable<Dev>({ size: 0x10, unassigned: 'ones' }, () => []);
    expect(ones.bind(new Dev(BYTES), { deviceName: 'x' }).read(0, 2)).toBe(0xffff);
  });

  test('access-size checks in one place: refused accesses are logged and do nothing', () => {
    const log = new RecordingLog();
    const table = registerTable<Dev>(
      { size: 0x100, minAccess: 4, maxAccess: 8, accepts: (o, s) => s === 4 || o >= 0x80 },
      (r) => [r.u32(0x0, 'a'), r.u64(0x80, 'q')],
    );
    const bank = table.bind(new Dev(BYTES), { log, deviceName: 'dev' });
    bank.write(0x0, 1, 2);
    bank.write64(0x0, 1n);
    bank.write(0x2, 1, 4);
    expect(bank.u32('a')).toBe(0);
    expect(log.guestErrors.map((e) => e.message)).toEqual([
      'access of 2 bytes refused',
      'access of 8 bytes refused',
      'unaligned access refused',
    ]);
    bank.write64(0x80, 5n);
    expect(bank.u64('q')).toBe(5n);
  });

  test('start policy: only accesses at a register start reach it, QEMU switch style', () => {
    const table = registerTable<Dev>(
      { size: 0x100, minAccess: 4, maxAccess: 8, subword: 'start', unassigned: 'ones' },
      (r) => [r.u64(0x80, 'src')],
    );
    const bank = table.bind(new Dev(BYTES), { deviceName: 'dev' });
    bank.write64(0x80, 0x1_0000_0002n);
    expect(bank.read(0x80, 4)).toBe(2);
    expect(bank.read(0x84, 4)).toBe(0xffff_ffff);
    bank.write(0x84, 7, 4);
    expect(bank.u64('src')).toBe(0x1_0000_0002n);
    bank.write(0x80, 9, 4); // zero-extended, as QEMU's `dma.src = val`
    expect(bank.u64('src')).toBe(9n);
  });

  test('a bad table is refused: overlap, misalignment, duplicate names, past the end', () => {
    expect(() => registerTable<Dev>({ size: 8 }, (r) => [r.u32(0, 'a'), r.u32(2, 'b')])).toThrow(
      /overlaps|aligned/,
    );
    expect(() => registerTable<Dev>({ size: 8 }, (r) => [r.u32(0, 'a'), r.u32(4, 'a')])).toThrow(
      /two registers/,
    );
    expect(() => registerTable<Dev>({ size: 8 }, (r) => [r.u64(8, 'a')])).toThrow(/past the table/);
  });

  test('save and load round-trip; a bad saved value is refused and nothing applied', () => {
    const d = new Dev(BYTES);
    d.regs.write(0x04, 0x42, 4);
    const saved = d.regs.save();
    const other = new Dev(BYTES);
    other.regs.load(saved);
    expect(other.regs.read(0x04, 4)).toBe(0x42);
    expect(() => other.regs.load({ ctrl: 1, base: 5 })).toThrowError(
      expect.objectContaining({
        code: 'invalid-state',
        context: expect.objectContaining({ property: 'base' }),
      }),
    );
    expect(other.regs.read(0x04, 4)).toBe(0x42);
    expect(() => other.regs.load({ nope: 1 })).toThrow(/nope/);
  });

  test('as a MemoryRegion: sizes outside min/max never arrive; the device rule is logged; 8 bytes arrive whole', () => {
    const log = new RecordingLog();
    const table = registerTable<Dev>(
      { size: 0x100, minAccess: 4, maxAccess: 8, accepts: (o, s) => s === 4 || o >= 0x80 },
      (r) => [r.u32(0x0, 'a'), r.u64(0x80, 'q', { write: (d, v) => d.calls.push(`q ${v.toString(16)}`) })],
    );
    const dev = new Dev(BYTES);
    const bank = table.bind(dev, { log, deviceName: 'dev' });
    const as = new MemoryContext().createAddressSpace('t', bank.region('bank'));
    expect(as.write(0n, new Uint8Array([1, 0, 0, 0]))).toBe('ok');
    expect(bank.u32('a')).toBe(1);
    expect(as.write(0n, new Uint8Array([1]))).toBe('access-error');
    expect(log.guestErrors).toHaveLength(0);
    expect(as.write(0n, new Uint8Array(8).fill(2))).toBe('ok'); // valid size, refused by the rule
    expect(bank.u32('a')).toBe(1);
    expect(log.guestErrors.map((e) => e.message)).toEqual(['access of 8 bytes refused']);
    expect(as.write(0x80n, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8))).toBe('ok');
    expect(dev.calls).toEqual(['q 807060504030201']);
  });
});
