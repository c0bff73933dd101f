import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { DeviceTree, DeviceTypeRegistry, type InterruptSink, PciRootBus } from '@vfu/pci';
import { VmStateError } from '@vfu/vmstate';
import { describe, expect } from 'vitest';
import { doorbellDevice, DoorbellRegister as R } from './doorbell';

const FIXTURE = join(import.meta.dirname, '../test/fixtures/doorbell-v1.vfustate');

function makeDoorbell() {
  const registry = new DeviceTypeRegistry();
  doorbellDevice.register(registry);
  const tree = new DeviceTree({ registry });
  const msis: number[] = [];
  const sink: InterruptSink = { intx: () => {}, msi: (_d, _v, m) => msis.push(m.data), msix: () => {} };
  tree.addRootBus(new PciRootBus({ id: 's0', interruptSink: sink, hotplugHandler: {} }));
  const dev = tree.deviceAdd({ driver: 'doorbell', id: 'd0', bus: 's0' });
  if (!doorbellDevice.is(dev)) throw new Error('not a doorbell');
  dev.configWrite(0x04, 0x6, 2); // memory + bus master
  dev.configWrite(dev.msi!.offset + 4, 0xfee0_0000, 4);
  dev.configWrite(dev.msi!.offset + 2, 1, 2); // MSI enable
  return { dev, msis };
}

const ring = (d: ReturnType<typeof makeDoorbell>, v: number) => d.dev.core.regs.write(R.Doorbell, v, 4);
const observe = (d: ReturnType<typeof makeDoorbell>) => [
  d.dev.core.regs.read(R.Mailbox, 4),
  d.dev.core.regs.read(R.Rings, 4),
  d.dev.msi!.enabled,
];

describe('doorbell state', () => {
  test.prop([fc.array(fc.nat({ max: 0xffff_ffff }), { maxLength: 20 }), fc.nat({ max: 0xffff_ffff })])(
    'saved after any rings, loaded into a fresh device: same registers, MSI still enabled',
    (values, next) => {
      const a = makeDoorbell();
      for (const v of values) ring(a, v);
      const b = makeDoorbell();
      b.dev.configWrite(0x04, 0, 2);
      b.dev.loadState(a.dev.saveState());
      expect(observe(b)).toEqual(observe(a));
      ring(a, next);
      ring(b, next);
      expect(observe(b)).toEqual(observe(a));
      expect(b.msis.at(-1)).toBe(a.msis.at(-1));
    },
  );

  test('the checked-in stream keeps loading; a damaged one is refused and changes nothing', () => {
    const a = makeDoorbell();
    ring(a, 0xcafe);
    ring(a, 0xbeef);
    if (process.env.VFU_WRITE_STATE_FIXTURES === '1' && !existsSync(FIXTURE))
      writeFileSync(FIXTURE, a.dev.saveState());
    const fixture = new Uint8Array(readFileSync(FIXTURE));
    const b = makeDoorbell();
    b.dev.loadState(fixture);
    expect(observe(b)).toEqual([0xbeef, 2, true]);
    const damaged = fixture.slice();
    damaged[damaged.length - 10] = (damaged[damaged.length - 10] as number) ^ 1;
    const c = makeDoorbell();
    ring(c, 1);
    expect(() => c.dev.loadState(damaged)).toThrow(VmStateError);
    expect(observe(c)).toEqual([1, 1, true]);
  });
});
