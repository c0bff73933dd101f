import { DeviceTree, DeviceTypeRegistry, PciRootBus } from '@vfu/pci';
import { expect, test } from 'vitest';
import {
  consoleDeviceLog,
  EduRegister,
  eduDevice,
  ManualClock,
  MemoryCharBackend,
  registerZooDevices,
  Serial16550,
} from './index';

// The README's examples, statement for statement.

test('README: device cores driven by plain calls', () => {
  const clock = new ManualClock();
  const edu = eduDevice.createCore({}, { clock });
  edu.write(EduRegister.Liveness, 0x12345678, 4);
  expect(edu.read(EduRegister.Liveness, 4)).toBe(0xedcba987);
  edu.write(EduRegister.Factorial, 5, 4);
  expect(edu.read(EduRegister.Status, 4)).toBe(0x1);
  clock.runPending();
  expect(edu.read(EduRegister.Factorial, 4)).toBe(120);

  const line = new MemoryCharBackend();
  const uart = new Serial16550({ chardev: line, clock });
  for (const c of 'hi') uart.write(0, c.charCodeAt(0), 1);
  expect(line.takeOutputText()).toBe('hi');
  line.input('y');
  expect(uart.read(0, 1)).toBe(0x79);
});

test('README: registering the zoo and creating a device by name', () => {
  const registry = new DeviceTypeRegistry();
  registerZooDevices(registry, { log: consoleDeviceLog });
  const tree = new DeviceTree({ registry });
  tree.addRootBus(new PciRootBus({ id: 's0' }));
  const dev = tree.deviceAddFromString('edu,id=edu0,bus=s0');
  expect(eduDevice.is(dev)).toBe(true);
  if (eduDevice.is(dev)) expect(dev.core.read(EduRegister.Identification, 4)).toBe(0x010000ed);
});
