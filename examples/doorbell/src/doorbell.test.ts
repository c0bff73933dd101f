import { describe, expect, test } from 'vitest';
import { doorbellDevice, DoorbellRegister as R } from './doorbell';

describe('doorbell core, without PCI', () => {
  test('a ring latches the value, counts it and signals MSI vector 0', () => {
    const vectors: number[] = [];
    const d = doorbellDevice.createCore(
      {},
      { irq: { msi: { isEnabled: () => true, notify: (v) => vectors.push(v) } } },
    );
    d.regs.write(R.Doorbell, 0xcafe, 4);
    d.regs.write(R.Doorbell, 0xbeef, 4);
    expect(vectors).toEqual([0, 0]);
    expect(d.regs.read(R.Mailbox, 4)).toBe(0xbeef);
    expect(d.regs.read(R.Rings, 4)).toBe(2);
  });

  test('guest mistakes are logged, never thrown', () => {
    const events: string[] = [];
    const d = doorbellDevice.createCore({}, { log: { guestError: (e) => events.push(e.message) } });
    d.regs.write(R.Mailbox, 1, 4);
    d.regs.write(R.Doorbell, 1, 2);
    expect(d.regs.read(R.Mailbox, 4)).toBe(0);
    expect(events).toEqual(['write to a read-only register ignored', 'access of 2 bytes refused']);
  });
});
