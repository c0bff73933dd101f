import { describe, expect, test } from 'vitest';
import { RecordingIrq, RecordingLog } from '../test/helpers';
import { PCI_IDIO_16_IO_SIZE, PciIdio16, type PciIdio16Options, PciIdio16Register as R } from './pci-idio-16';

function makeCard(options: PciIdio16Options = {}) {
  const irq = new RecordingIrq();
  const log = new RecordingLog();
  const card = new PciIdio16({ irq, log, ...options });
  const rd = (offset: number) => card.read(offset, 1);
  const wr = (offset: number, value: number) => card.write(offset, value, 1);
  return { card, irq, log, rd, wr };
}

describe('PCI-IDIO-16 registers', () => {
  test('BAR2 is 256 bytes of I/O', () => {
    expect(PCI_IDIO_16_IO_SIZE).toBe(256);
  });

  test('reset values: outputs 0, inputs as the inputs= property, status 0', () => {
    const { rd } = makeCard({ inputs: 0xa55a });
    expect([
      rd(R.Outputs0To7),
      rd(R.Inputs0To7),
      rd(R.Outputs8To15),
      rd(R.Inputs8To15),
      rd(R.InterruptStatus),
    ]).toEqual([0x00, 0x5a, 0x00, 0xa5, 0x00]);
  });

  test('output registers hold what the guest writes (outputs 0-7 and 8-15)', () => {
    const { card, rd, wr } = makeCard();
    wr(R.Outputs0To7, 0x12);
    wr(R.Outputs8To15, 0x34);
    expect(rd(R.Outputs0To7)).toBe(0x12);
    expect(rd(R.Outputs8To15)).toBe(0x34);
    expect(card.outputs).toBe(0x3412);
  });

  test('output changes are reported to listeners with the previous value', () => {
    const { card, wr } = makeCard();
    const seen: [number, number][] = [];
    const off = card.onOutputsChanged((now, before) => seen.push([now, before]));
    wr(R.Outputs0To7, 0x01);
    wr(R.Outputs0To7, 0x01); // no change, no event
    wr(R.Outputs8To15, 0x80);
    off();
    wr(R.Outputs0To7, 0);
    expect(seen).toEqual([
      [0x0001, 0x0000],
      [0x8001, 0x0001],
    ]);
  });

  test('input registers read the input levels (inputs 0-7 and 8-15)', () => {
    const { card, rd } = makeCard();
    card.setInputs(0xbeef);
    expect(rd(R.Inputs0To7)).toBe(0xef);
    expect(rd(R.Inputs8To15)).toBe(0xbe);
  });

  test('the 16-bit word at 0 reads outputs 0-7 and inputs 0-7 (Linux get_multiple order)', () => {
    const { card } = makeCard({ inputs: 0x00cd });
    card.write(R.Outputs0To7, 0xab, 1);
    expect(card.read(0, 2)).toBe(0xcdab);
  });

  test('writing the in8_15 and irq_status registers is a logged guest error', () => {
    const { rd, wr, log } = makeCard({ inputs: 0xff00 });
    wr(R.Inputs8To15, 0);
    wr(R.InterruptStatus, 0xff);
    expect(rd(R.Inputs8To15)).toBe(0xff);
    expect(log.guestErrors.map((e) => e.register)).toEqual(['in8_15', 'irq_status']);
  });

  test('unused offsets read 0xff and writes there are logged', () => {
    const { rd, wr, log } = makeCard();
    expect(rd(7)).toBe(0xff);
    expect(rd(0xff)).toBe(0xff);
    wr(0x10, 1);
    expect(log.guestErrors[0]?.message).toContain('unassigned');
  });

  test('accesses outside BAR2 are logged, never thrown', () => {
    const { card, log } = makeCard();
    expect(card.read(0x100, 1)).toBe(0xff);
    card.write(0xfe, 0, 4);
    expect(log.guestErrors).toHaveLength(2);
  });

  test('reading filter_ctl activates the input filters; writing it deactivates them', () => {
    const { card, rd, wr } = makeCard();
    rd(R.FilterControl);
    expect(card.state.filtersActive).toBe(true);
    wr(R.FilterControl, 0);
    expect(card.state.filtersActive).toBe(false);
  });
});

describe('PCI-IDIO-16 input change interrupt', () => {
  test('with the IRQ disabled (reset) input changes raise nothing', () => {
    const { card, rd, irq } = makeCard();
    card.setInputs(0x0001);
    expect(irq.history).toEqual([]);
    expect(rd(R.InterruptStatus)).toBe(0);
  });

  test('reading irq_ctl enables the IRQ; a change on inputs 0-7 sets status bits 2 and 0 and asserts INTx', () => {
    const { card, rd, irq } = makeCard();
    rd(R.IrqControl);
    card.setInput(3, true);
    expect(irq.level).toBe(true);
    expect(rd(R.InterruptStatus)).toBe(0x05);
  });

  test('a change on inputs 8-15 sets status bits 2 and 1', () => {
    const { card, rd } = makeCard();
    rd(R.IrqControl);
    card.setInput(12, true);
    expect(rd(R.InterruptStatus)).toBe(0x06);
  });

  test('both edges interrupt: a falling input raises too', () => {
    const { card, rd, wr, irq } = makeCard({ inputs: 0x0100 });
    rd(R.IrqControl);
    card.setInput(8, false);
    expect(irq.level).toBe(true);
    wr(R.ClearInterrupt, 0);
    card.setInput(8, true);
    expect(irq.level).toBe(true);
  });

  test('setting inputs to their current levels raises nothing', () => {
    const { card, rd, irq } = makeCard({ inputs: 0x00ff });
    rd(R.IrqControl);
    card.setInputs(0x00ff);
    expect(irq.history).toEqual([]);
  });

  test('writing in0_7 clears the interrupt and deasserts INTx', () => {
    const { card, rd, wr, irq } = makeCard();
    rd(R.IrqControl);
    card.setInputs(0xffff);
    wr(R.ClearInterrupt, 0);
    expect(irq.level).toBe(false);
    expect(rd(R.InterruptStatus)).toBe(0);
  });

  test('writing irq_ctl disables the IRQ for later changes', () => {
    const { card, rd, wr, irq } = makeCard();
    rd(R.IrqControl);
    wr(R.IrqControl, 0);
    card.setInputs(1);
    expect(irq.history).toEqual([]);
  });

  test('the Linux probe sequence (disable, clear, enable on unmask) then a change is seen', () => {
    const { card, rd, wr, irq } = makeCard();
    wr(R.IrqControl, 0x00); // disable IRQ before registering the irqchip
    wr(R.FilterControl, 0x00); // deactivate input filters
    wr(R.ClearInterrupt, 0x00); // unmask from all-masked: clear, then
    rd(R.IrqControl); // enable
    card.setInput(0, true);
    const status = rd(R.InterruptStatus);
    expect(status & 0x4).toBe(0x4);
    expect(status & 0x3).not.toBe(0);
    expect(irq.level).toBe(true);
  });

  test('setInputs and setInput reject values outside the 16 lines', () => {
    const { card } = makeCard();
    expect(() => card.setInputs(0x10000)).toThrowError(expect.objectContaining({ code: 'invalid-argument' }));
    expect(() => card.setInputs(-1)).toThrowError(expect.objectContaining({ code: 'invalid-argument' }));
    expect(() => card.setInput(16, true)).toThrowError(expect.objectContaining({ code: 'invalid-argument' }));
    expect(() => new PciIdio16({ inputs: 1.5 })).toThrowError(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
  });
});

describe('PCI-IDIO-16 reset and state', () => {
  test('warm reset turns outputs off, disables the IRQ and keeps the driven inputs', () => {
    const { card, rd, wr, irq } = makeCard({ inputs: 0x0001 });
    wr(R.Outputs0To7, 0xff);
    rd(R.IrqControl);
    card.setInputs(0x0003);
    card.reset('warm');
    expect(card.outputs).toBe(0);
    expect(card.inputs).toBe(0x0003);
    expect(card.state.irqEnabled).toBe(false);
    expect(rd(R.InterruptStatus)).toBe(0);
    expect(irq.level).toBe(false);
  });

  test('cold reset restores the power-on inputs', () => {
    const { card } = makeCard({ inputs: 0x0001 });
    card.setInputs(0xffff);
    card.reset('cold');
    expect(card.inputs).toBe(0x0001);
  });

  test('save/restore round-trips and drives the line', () => {
    const a = makeCard();
    a.rd(R.IrqControl);
    a.card.setInputs(0x10);
    a.wr(R.Outputs8To15, 0x42);
    const b = makeCard();
    b.card.restoreState(structuredClone(a.card.saveState()));
    expect(b.irq.level).toBe(true);
    expect(b.card.outputs).toBe(0x4200);
    expect(b.rd(R.InterruptStatus)).toBe(0x05);
  });

  test('restoring a malformed state throws invalid-state', () => {
    const { card } = makeCard();
    expect(() => card.restoreState({ ...card.saveState(), outputs: 0x10000 })).toThrowError(
      expect.objectContaining({ code: 'invalid-state' }),
    );
  });
});
