import { describe, expect, test } from 'vitest';
import { singleDevice } from '../../test/helpers';
import * as R from '../regs';

function msiDevice(opts: { vectors?: number; address64?: boolean; perVectorMask?: boolean } = {}) {
  const env = singleDevice((d) => d.msiInit({ vectors: 4, perVectorMask: true, ...opts }));
  const cap = env.dev.msi?.offset as number;
  const { dev } = env;
  const is64 = opts.address64 ?? true;
  const program = (log2Vectors: number) => {
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MASTER, 2);
    dev.configWrite(cap + R.PCI_MSI_ADDRESS_LO, 0xfee00000, 4);
    if (is64) dev.configWrite(cap + R.PCI_MSI_ADDRESS_HI, 0x1, 4);
    dev.configWrite(cap + (is64 ? R.PCI_MSI_DATA_64 : R.PCI_MSI_DATA_32), 0x4020, 2);
    dev.configWrite(cap + R.PCI_MSI_FLAGS, R.PCI_MSI_FLAGS_ENABLE | (log2Vectors << 4), 2);
  };
  return { ...env, cap, program, maskOff: cap + (is64 ? R.PCI_MSI_MASK_64 : R.PCI_MSI_MASK_32) };
}

describe('MSI', () => {
  test('capability layout and writable bits follow msi_init', () => {
    const { dev, cap } = msiDevice();
    const flags = dev.configRead(cap + R.PCI_MSI_FLAGS, 2);
    expect(flags).toBe(R.PCI_MSI_FLAGS_64BIT | R.PCI_MSI_FLAGS_MASKBIT | (2 << 1));
    expect(dev.msi?.size).toBe(0x18);
    dev.configWrite(cap + R.PCI_MSI_FLAGS, 0xffff, 2);
    expect(dev.configRead(cap + R.PCI_MSI_FLAGS, 2)).toBe(flags | R.PCI_MSI_FLAGS_ENABLE | (2 << 4)); // QSIZE clamped to capable
    dev.configWrite(cap + R.PCI_MSI_ADDRESS_LO, 0xffffffff, 4);
    expect(dev.configRead(cap + R.PCI_MSI_ADDRESS_LO, 4)).toBe(0xfffffffc);
    dev.configWrite(cap + R.PCI_MSI_MASK_64, 0xffffffff, 4);
    expect(dev.configRead(cap + R.PCI_MSI_MASK_64, 4)).toBe(0xf);
    dev.configWrite(cap + R.PCI_MSI_PENDING_64, 0xffffffff, 4);
    expect(dev.configRead(cap + R.PCI_MSI_PENDING_64, 4)).toBe(0);
  });

  test('32-bit layout without masking is 10 bytes', () => {
    const { dev } = msiDevice({ address64: false, perVectorMask: false, vectors: 1 });
    expect(dev.msi?.size).toBe(0x0a);
    expect(dev.msi?.address64).toBe(false);
  });

  test('notify delivers address/data with the vector in the low data bits', () => {
    const { dev, sink, program } = msiDevice();
    program(2);
    expect(dev.msiNotify(3)).toBe('delivered');
    expect(dev.msiNotify(0)).toBe('delivered');
    expect(sink.msis).toEqual([
      { vector: 3, message: { address: 0x1_fee00000n, data: 0x4023 } },
      { vector: 0, message: { address: 0x1_fee00000n, data: 0x4020 } },
    ]);
  });

  test('disabled MSI, unallocated vectors and bus master off drop the message', () => {
    const { dev, sink, program, cap } = msiDevice();
    expect(dev.msiNotify(0)).toBe('disabled');
    program(1); // 2 vectors allocated
    expect(dev.msiNotify(2)).toBe('disabled');
    dev.configWrite(R.PCI_COMMAND, 0, 2);
    expect(dev.msiNotify(0)).toBe('blocked');
    expect(sink.msis).toEqual([]);
    expect(() => dev.msiNotify(4)).toThrow(/out of range/);
    dev.configWrite(cap + R.PCI_MSI_FLAGS, 0, 2);
    expect(dev.msi?.enabled).toBe(false);
  });

  test('a masked vector becomes pending; unmasking delivers it and clears the bit', () => {
    const { dev, sink, program, maskOff, cap } = msiDevice();
    program(2);
    dev.configWrite(maskOff, 0b0100, 4);
    expect(dev.msiNotify(2)).toBe('pending');
    expect(dev.msi?.isPending(2)).toBe(true);
    expect(dev.configRead(cap + R.PCI_MSI_PENDING_64, 4)).toBe(0b0100);
    expect(sink.msis).toEqual([]);
    dev.configWrite(maskOff, 0, 4);
    expect(sink.msis.map((m) => m.vector)).toEqual([2]);
    expect(dev.msi?.isPending(2)).toBe(false);
    expect(sink.events).toContainEqual({ kind: 'msi-enable', enabled: true, vectors: 4 });
    expect(sink.events).toContainEqual({ kind: 'msi-mask', mask: 0b0100 });
    expect(sink.events).toContainEqual({ kind: 'msi-mask', mask: 0 });
  });

  test('enabling MSI deasserts INTx; reset clears enable, address, data, mask, pending', () => {
    const { dev, sink, program, maskOff } = msiDevice();
    dev.intxAssert();
    program(2);
    expect(sink.intxLevels).toEqual([true, false]);
    dev.configWrite(maskOff, 1, 4);
    dev.msiNotify(0);
    dev.reset('warm');
    expect(dev.msi?.enabled).toBe(false);
    expect(dev.msi?.maskBits).toBe(0);
    expect(dev.msi?.pendingBits).toBe(0);
    expect(dev.msi?.message(0)).toEqual({ address: 0n, data: 0 });
    expect(sink.events.at(-2)).toEqual({ kind: 'msi-enable', enabled: false, vectors: 1 });
  });

  test('bad vector counts are refused', () => {
    expect(() => singleDevice((d) => d.msiInit({ vectors: 3 }))).toThrow(/power of two/);
    expect(() => singleDevice((d) => d.msiInit({ vectors: 64 }))).toThrow(/power of two/);
  });
});
