import { describe, expect, test } from 'vitest';
import { RecordingLog } from '../test/helpers';
import {
  PciTestdevHeader as H,
  PCI_TESTDEV_MMIO_SIZE,
  PCI_TESTDEV_PORTIO_SIZE,
  PCI_TESTDEV_TESTS,
  PciTestdev,
  type PciTestdevBar,
  type PciTestdevOptions,
} from './pci-testdev';

function makeTestdev(options: PciTestdevOptions = {}) {
  const log = new RecordingLog();
  const notified: number[] = [];
  const dev = new PciTestdev({ log, onIoeventfd: (t) => notified.push(t.index), ...options });
  return { dev, log, notified };
}

function words(bar: PciTestdevBar, count: number): number[] {
  return Array.from({ length: count }, (_, i) => bar.read(i * 4, 4));
}

function bytes(bar: PciTestdevBar, count: number): number[] {
  return Array.from({ length: count }, (_, i) => bar.read(i, 1));
}

describe('pci-testdev BARs', () => {
  test('BAR0 is 4 KiB of memory and BAR1 256 bytes of I/O', () => {
    const { dev } = makeTestdev();
    expect(dev.mmio.size).toBe(PCI_TESTDEV_MMIO_SIZE);
    expect(dev.portio.size).toBe(PCI_TESTDEV_PORTIO_SIZE);
    expect(PCI_TESTDEV_MMIO_SIZE).toBe(4096);
    expect(PCI_TESTDEV_PORTIO_SIZE).toBe(256);
  });

  test('with no test selected every read returns 0', () => {
    const { dev } = makeTestdev();
    expect(words(dev.mmio, 4)).toEqual([0, 0, 0, 0]);
    expect(words(dev.portio, 4)).toEqual([0, 0, 0, 0]);
  });
});

describe('pci-testdev test headers (reference capture)', () => {
  const captured: [string, 'mmio' | 'portio', number, number[]][] = [
    [
      'mmio',
      'mmio',
      0,
      [0x00000100, 0x00000800, 0x000000fa, 0, 0x6f696d6d, 0x2d6f6e2d, 0x6e657665, 0x00646674, 0, 0, 0, 0],
    ],
    [
      'mmio',
      'mmio',
      1,
      [
        0x00000101, 0x00000801, 0x000000ce, 0, 0x6f696d6d, 0x6c69772d, 0x72616364, 0x76652d64, 0x66746e65,
        0x00000064, 0, 0,
      ],
    ],
    [
      'mmio',
      'mmio',
      2,
      [
        0x00000102, 0x00000802, 0x000000fa, 0, 0x6f696d6d, 0x7461642d, 0x74616d61, 0x652d6863, 0x746e6576,
        0x00006466, 0, 0,
      ],
    ],
    [
      'portio',
      'portio',
      0,
      [
        0x00000103, 0x00000083, 0x000000fa, 0, 0x74726f70, 0x6e2d6f69, 0x76652d6f, 0x66746e65, 0x00000064, 0,
        0, 0,
      ],
    ],
    [
      'portio',
      'portio',
      1,
      [
        0x00000104, 0x00000084, 0x000000ce, 0, 0x74726f70, 0x772d6f69, 0x63646c69, 0x2d647261, 0x6e657665,
        0x00646674, 0, 0,
      ],
    ],
    [
      'portio',
      'portio',
      2,
      [
        0x00000105, 0x00000085, 0x000000fa, 0, 0x74726f70, 0x642d6f69, 0x6d617461, 0x68637461, 0x6576652d,
        0x6466746e, 0, 0,
      ],
    ],
  ];
  test.each(captured)('%s test %i header words match QEMU', (_label, space, number, expected) => {
    const { dev } = makeTestdev();
    const bar = dev[space];
    bar.write(H.Test, number, 1);
    expect(words(bar, 12)).toEqual(expected);
  });

  test('8-bit reads of the header give the same bytes as 32-bit reads', () => {
    const { dev } = makeTestdev();
    dev.mmio.write(0, 0, 1);
    expect(bytes(dev.mmio, 32)).toEqual([
      0x00,
      0x01,
      0,
      0,
      0x00,
      0x08,
      0,
      0,
      0xfa,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...new TextEncoder().encode('mmio-no-eventfd'),
      0,
    ]);
    dev.portio.write(0, 0, 1);
    expect(bytes(dev.portio, 32)).toEqual([
      0x03,
      0x01,
      0,
      0,
      0x83,
      0,
      0,
      0,
      0xfa,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...new TextEncoder().encode('portio-no-eventf'),
    ]);
  });

  test('test number 3 and above deselects: the header reads 0 (end of the test list)', () => {
    const { dev } = makeTestdev();
    dev.mmio.write(H.Test, 0, 1);
    dev.mmio.write(H.Test, 3, 1);
    expect(words(dev.mmio, 12)).toEqual(new Array(12).fill(0));
    dev.portio.write(H.Test, 1, 1);
    dev.portio.write(H.Test, 0xff, 1);
    expect(words(dev.portio, 4)).toEqual([0, 0, 0, 0]);
  });

  test('a selected test shows on both BARs (one current test per device)', () => {
    const { dev } = makeTestdev();
    dev.portio.write(H.Test, 2, 1);
    expect(dev.mmio.read(H.Test, 1)).toBe(5);
  });

  test('the test table lists the six QEMU tests', () => {
    expect(PCI_TESTDEV_TESTS.map((t) => `${t.index}:${t.name}@0x${t.offset.toString(16)}`)).toEqual([
      '0:mmio-no-eventfd@0x800',
      '1:mmio-wildcard-eventfd@0x801',
      '2:mmio-datamatch-eventfd@0x802',
      '3:portio-no-eventfd@0x83',
      '4:portio-wildcard-eventfd@0x84',
      '5:portio-datamatch-eventfd@0x85',
    ]);
  });
});

describe('pci-testdev write counting (reference capture)', () => {
  const count = (bar: PciTestdevBar) => bar.read(H.Count, 4);

  test('mmio-no-eventfd counts 8-bit writes of data and an aligned 16-bit write of data', () => {
    const { dev } = makeTestdev();
    dev.mmio.write(H.Test, 0, 1);
    dev.mmio.write(0x800, 0xfa, 1);
    dev.mmio.write(0x800, 0xfa, 1);
    dev.mmio.write(0x800, 0x05, 1);
    expect(count(dev.mmio)).toBe(2);
    dev.mmio.write(0x800, 0x00fa, 2);
    expect(count(dev.mmio)).toBe(3);
  });

  test('re-selecting a test resets its count', () => {
    const { dev } = makeTestdev();
    dev.mmio.write(H.Test, 0, 1);
    dev.mmio.write(0x800, 0xfa, 1);
    dev.mmio.write(H.Test, 0, 1);
    expect(count(dev.mmio)).toBe(0);
  });

  test('mmio-wildcard-eventfd: matching writes go to the ioeventfd, count stays 0', () => {
    const { dev, notified } = makeTestdev();
    dev.mmio.write(H.Test, 1, 1);
    dev.mmio.write(0x801, 0xce, 1);
    dev.mmio.write(0x801, 0xce, 1);
    dev.mmio.write(0x801, 0x31, 1);
    dev.mmio.write(0x801, 0x00ce, 2); // unaligned: split into bytes, the first hits the eventfd
    expect(count(dev.mmio)).toBe(0);
    expect(notified).toEqual([1, 1, 1, 1]);
    expect(dev.state.notifications[1]).toBe(4);
  });

  test('mmio-datamatch-eventfd: 8-bit data writes go to the eventfd; a 16-bit one is counted', () => {
    const { dev, notified } = makeTestdev();
    dev.mmio.write(H.Test, 2, 1);
    dev.mmio.write(0x802, 0xfa, 1);
    dev.mmio.write(0x802, 0xfa, 1);
    dev.mmio.write(0x802, 0x05, 1);
    expect(count(dev.mmio)).toBe(0);
    dev.mmio.write(0x802, 0x00fa, 2);
    expect(count(dev.mmio)).toBe(1);
    expect(notified).toEqual([2, 2]);
  });

  test('portio-no-eventfd: an unaligned 16-bit I/O write is dropped', () => {
    const { dev, log } = makeTestdev();
    dev.portio.write(H.Test, 0, 1);
    dev.portio.write(0x83, 0xfa, 1);
    dev.portio.write(0x83, 0xfa, 1);
    dev.portio.write(0x83, 0x05, 1);
    dev.portio.write(0x83, 0x00fa, 2);
    expect(count(dev.portio)).toBe(2);
    expect(log.guestErrors.map((e) => e.message)).toEqual(['unaligned I/O access dropped']);
  });

  test('portio-wildcard-eventfd: an aligned 16-bit write misses the 1-byte eventfd and is counted', () => {
    const { dev } = makeTestdev();
    dev.portio.write(H.Test, 1, 1);
    dev.portio.write(0x84, 0xce, 1);
    dev.portio.write(0x84, 0xce, 1);
    dev.portio.write(0x84, 0x31, 1);
    expect(count(dev.portio)).toBe(0);
    dev.portio.write(0x84, 0x00ce, 2);
    expect(count(dev.portio)).toBe(1);
  });

  test('portio-datamatch-eventfd: nothing is counted', () => {
    const { dev } = makeTestdev();
    dev.portio.write(H.Test, 2, 1);
    dev.portio.write(0x85, 0xfa, 1);
    dev.portio.write(0x85, 0x05, 1);
    dev.portio.write(0x85, 0x00fa, 2);
    expect(count(dev.portio)).toBe(0);
  });

  test('without ioeventfd emulation every matching write is counted', () => {
    const { dev, notified } = makeTestdev({ ioeventfd: false });
    dev.mmio.write(H.Test, 1, 1);
    dev.mmio.write(0x801, 0xce, 1);
    dev.mmio.write(0x801, 0x31, 1);
    expect(count(dev.mmio)).toBe(2);
    dev.mmio.write(H.Test, 2, 1);
    dev.mmio.write(0x802, 0xfa, 1);
    dev.mmio.write(0x802, 0x05, 1);
    expect(count(dev.mmio)).toBe(1);
    expect(notified).toEqual([]);
  });

  test("a write at the current test's offset counts through either BAR, as QEMU's handler", () => {
    const { dev, notified } = makeTestdev();
    dev.portio.write(H.Test, 0, 1); // portio-no-eventfd: 0x83, data 0xfa
    dev.mmio.write(0x83, 0xfa, 1);
    dev.mmio.write(0x83, 0x05, 1);
    expect(count(dev.portio)).toBe(1);
    // The ioeventfd of an eventfd test sits on its own BAR only: the other BAR's write counts.
    dev.portio.write(H.Test, 1, 1); // portio-wildcard-eventfd: 0x84
    dev.mmio.write(0x84, 0x31, 1);
    expect(count(dev.portio)).toBe(1);
    dev.portio.write(0x84, 0x31, 1);
    expect(count(dev.portio)).toBe(1);
    expect(notified).toHaveLength(1);
    // A write at another offset still counts nowhere.
    dev.mmio.write(H.Test, 0, 1);
    dev.portio.write(0x80, 0xfa, 1);
    expect(count(dev.mmio)).toBe(0);
  });

  test('header fields other than test are read-only: writes there are ignored', () => {
    const { dev } = makeTestdev();
    dev.mmio.write(H.Test, 0, 1);
    dev.mmio.write(H.Offset, 0x12345678, 4);
    dev.mmio.write(H.Count, 7, 4);
    expect(dev.mmio.read(H.Offset, 4)).toBe(0x800);
    expect(count(dev.mmio)).toBe(0);
  });
});

describe('pci-testdev bad accesses, reset and state', () => {
  test('accesses outside a BAR are logged and read 0', () => {
    const { dev, log } = makeTestdev();
    expect(dev.portio.read(0x100, 1)).toBe(0);
    dev.mmio.write(0xffe, 0, 4);
    expect(log.guestErrors).toHaveLength(2);
  });

  test('warm reset deselects the test, cold reset also zeroes the counts', () => {
    const { dev } = makeTestdev();
    dev.mmio.write(H.Test, 0, 1);
    dev.mmio.write(0x800, 0xfa, 1);
    dev.reset('warm');
    expect(dev.currentTest).toBeUndefined();
    expect(dev.state.counts[0]).toBe(1);
    dev.reset('cold');
    expect(dev.state.counts[0]).toBe(0);
  });

  test('save/restore round-trips the selected test and counts', () => {
    const a = makeTestdev();
    a.dev.portio.write(H.Test, 0, 1);
    a.dev.portio.write(0x83, 0xfa, 1);
    const b = makeTestdev();
    b.dev.restoreState(structuredClone(a.dev.saveState()));
    expect(b.dev.portio.read(H.Count, 4)).toBe(1);
    expect(b.dev.portio.read(H.Test, 1)).toBe(3);
  });

  test('restoring a malformed state throws invalid-state', () => {
    const { dev } = makeTestdev();
    expect(() => dev.restoreState({ current: 9, counts: [], notifications: [] })).toThrowError(
      expect.objectContaining({ code: 'invalid-state' }),
    );
  });
});
