/**
 * QEMU's PCI test device ("pci-testdev", 1b36:0005) as a plain model.
 *
 * Follows QEMU's `docs/specs/pci-testdev.txt` and the guest-visible behaviour of QEMU's device:
 * BAR0 is 4 KiB of MMIO, BAR1 256 bytes of port I/O. Each BAR starts with a test header:
 *
 * ```
 * +0  u8  test     write: select this BAR's test N (N >= 3 deselects); read: global test index
 * +1  u8  width    access width of the test (1)
 * +4  u32 offset   where the test writes go (0x800 + index for MMIO, 0x80 + index for I/O)
 * +8  u32 data     value to write (0xfa, or 0xce for the wildcard test)
 * +12 u32 count    writes the device saw at `offset` since the test was selected
 * +16 name[]       NUL-terminated ("mmio-no-eventfd", ...)
 * ```
 *
 * One test is selected at a time for the whole device; both BARs show its header. With no test
 * selected every read returns 0. The device works in bytes: wider accesses are split.
 *
 * The `*-wildcard-eventfd` and `*-datamatch-eventfd` tests register an ioeventfd in QEMU, so the
 * writes they match are consumed by the eventfd and never counted. With `ioeventfd` on (default)
 * this model does the same: matching writes go to {@link PciTestdevOptions.onIoeventfd} and
 * `notifications`, not to `count`. With it off, every matching write is counted.
 */

import { MemoryRegion } from '@vfu/memory';
import { prop } from '@vfu/pci';
import { defineVmState, vm } from '@vfu/vmstate';
import { defineDevice } from './api/define-device';
import { deviceState } from './api/state';
import { DeviceError } from './errors';
import { type DeviceLog, type ResetKind, silentDeviceLog } from './interfaces';

/** PCI identity of pci-testdev (QEMU's values). */
export const PCI_TESTDEV_PCI_IDS = Object.freeze({
  vendorId: 0x1b36,
  deviceId: 0x0005,
  revision: 0x00,
  classCode: 0x00ff00,
  subsystemVendorId: 0x1af4,
  subsystemId: 0x1100,
});

/** Size of BAR0 (memory). */
export const PCI_TESTDEV_MMIO_SIZE = 4096;
/** Size of BAR1 (I/O). */
export const PCI_TESTDEV_PORTIO_SIZE = 256;
/** Value tests with data matching expect. */
export const PCI_TESTDEV_DATAMATCH = 0xfa;
/** Value the wildcard test advertises (any value matches). */
export const PCI_TESTDEV_NOMATCH = 0xce;
/** Number of tests per BAR. */
export const PCI_TESTDEV_TESTS_PER_BAR = 3;

/** Offsets of the test header fields. */
export const PciTestdevHeader = Object.freeze({
  Test: 0x00,
  Width: 0x01,
  Offset: 0x04,
  Data: 0x08,
  Count: 0x0c,
  Name: 0x10,
});

/** The kinds of test each BAR implements, in test-number order. */
export type PciTestdevTestKind = 'no-eventfd' | 'wildcard-eventfd' | 'datamatch-eventfd';
/** Which BAR a test lives on. */
export type PciTestdevSpace = 'mmio' | 'portio';

/** One test as the device describes it in its header. */
export interface PciTestdevTest {
  /** Global index (0..2 on BAR0, 3..5 on BAR1), as the header's test byte reads. */
  readonly index: number;
  /** BAR of the test. */
  readonly space: PciTestdevSpace;
  /** Kind of test. */
  readonly kind: PciTestdevTestKind;
  /** Name in the header. */
  readonly name: string;
  /** Offset within the BAR that the test's writes target. */
  readonly offset: number;
  /** Value the test's writes carry. */
  readonly data: number;
  /** Access width in bytes. */
  readonly width: 1;
  /** Whether only writes of `data` match. */
  readonly matchData: boolean;
  /** Whether QEMU registers an ioeventfd for the test. */
  readonly hasIoeventfd: boolean;
}

const KINDS: readonly PciTestdevTestKind[] = ['no-eventfd', 'wildcard-eventfd', 'datamatch-eventfd'];
const SPACES: readonly PciTestdevSpace[] = ['mmio', 'portio'];

/** The six tests (three per BAR), as QEMU builds them. */
export const PCI_TESTDEV_TESTS: readonly PciTestdevTest[] = Object.freeze(
  SPACES.flatMap((space, s) =>
    KINDS.map((kind, k): PciTestdevTest => {
      const index = s * KINDS.length + k;
      const matchData = kind !== 'wildcard-eventfd';
      return Object.freeze({
        index,
        space,
        kind,
        name: `${space}-${kind}`,
        offset: (space === 'mmio' ? PCI_TESTDEV_MMIO_SIZE / 2 : PCI_TESTDEV_PORTIO_SIZE / 2) + index,
        data: matchData ? PCI_TESTDEV_DATAMATCH : PCI_TESTDEV_NOMATCH,
        width: 1 as const,
        matchData,
        hasIoeventfd: kind !== 'no-eventfd',
      });
    }),
  ),
);

const testdevCounters = vm.array(vm.u32(), { maxLength: 64, length: PCI_TESTDEV_TESTS.length });

/** pci-testdev's state: the selected test and each test's counters. */
export const pciTestdevVmState = defineVmState({
  name: 'pci-testdev',
  version: 1,
  fields: {
    current: vm.i32({
      check: (v: number) => (v < -1 || v >= PCI_TESTDEV_TESTS.length ? `no test ${v}` : undefined),
    }),
    counts: testdevCounters,
    notifications: testdevCounters,
  },
});

/** Plain-data state of a pci-testdev. */
export interface PciTestdevState {
  /** Global index of the selected test, or -1. */
  current: number;
  /** Header count of each test (index = global test index). */
  counts: number[];
  /** Writes each test's ioeventfd consumed (not guest-visible; for harnesses). */
  notifications: number[];
}

/** What {@link PciTestdev} is given at construction. */
export interface PciTestdevOptions {
  /** Model QEMU's ioeventfds for the eventfd tests (default true; see the module comment). */
  ioeventfd?: boolean;
  /** Called when a write is consumed by a test's ioeventfd. */
  onIoeventfd?: (test: PciTestdevTest) => void;
  /** Where guest errors go. */
  log?: DeviceLog;
}

/** One BAR of the device, accessed with region-relative offsets. */
export interface PciTestdevBar {
  /** Size of the BAR in bytes. */
  readonly size: number;
  /** Read `size` bytes (little-endian) at `offset`. */
  read(offset: number, size: 1 | 2 | 4): number;
  /** Write `size` bytes (little-endian) at `offset`. */
  write(offset: number, value: number, size: 1 | 2 | 4): void;
}

function freshState(): PciTestdevState {
  return {
    current: -1,
    counts: PCI_TESTDEV_TESTS.map(() => 0),
    notifications: PCI_TESTDEV_TESTS.map(() => 0),
  };
}

/** The header bytes of `test` with the given count (QEMU's PCITestDevHdr plus the name). */
export function pciTestdevHeaderBytes(test: PciTestdevTest, count: number): Uint8Array {
  const bytes = new Uint8Array(PciTestdevHeader.Name + test.name.length + 1);
  const view = new DataView(bytes.buffer);
  view.setUint8(PciTestdevHeader.Test, test.index);
  view.setUint8(PciTestdevHeader.Width, test.width);
  view.setUint32(PciTestdevHeader.Offset, test.offset, true);
  view.setUint8(PciTestdevHeader.Data, test.data);
  view.setUint32(PciTestdevHeader.Count, count >>> 0, true);
  for (let i = 0; i < test.name.length; i++) bytes[PciTestdevHeader.Name + i] = test.name.charCodeAt(i);
  return bytes;
}

// Immutable header bytes of each test with count 0; reads patch the live count in.
const STATIC_HEADERS: readonly Uint8Array[] = PCI_TESTDEV_TESTS.map((t) => pciTestdevHeaderBytes(t, 0));

/** The pci-testdev core: test selection, header reads and write counting on both BARs. */
export class PciTestdev {
  /** Live state. Mutate only through the device's methods. */
  state: PciTestdevState = freshState();
  /** BAR0: 4 KiB memory. */
  readonly mmio: PciTestdevBar;
  /** BAR1: 256 bytes of I/O ports. */
  readonly portio: PciTestdevBar;

  private readonly ioeventfd: boolean;
  private readonly onIoeventfd: ((test: PciTestdevTest) => void) | undefined;
  private readonly log: DeviceLog;

  constructor(options: PciTestdevOptions = {}) {
    this.ioeventfd = options.ioeventfd ?? true;
    this.onIoeventfd = options.onIoeventfd;
    this.log = options.log ?? silentDeviceLog;
    this.mmio = this.makeBar('mmio', PCI_TESTDEV_MMIO_SIZE);
    this.portio = this.makeBar('portio', PCI_TESTDEV_PORTIO_SIZE);
  }

  /** The selected test, if any. */
  get currentTest(): PciTestdevTest | undefined {
    return PCI_TESTDEV_TESTS[this.state.current];
  }

  /** Deselect the test (QEMU's reset). A cold reset also zeroes every count. */
  reset(kind: ResetKind = 'warm'): void {
    if (kind === 'cold') {
      this.state = freshState();
    } else {
      this.state.current = -1;
    }
  }

  /** A deep copy of the state. */
  saveState(): PciTestdevState {
    return {
      current: this.state.current,
      counts: [...this.state.counts],
      notifications: [...this.state.notifications],
    };
  }

  /** Replace the state with `state`, as {@link saveState} produced it. */
  restoreState(state: PciTestdevState): void {
    const n = PCI_TESTDEV_TESTS.length;
    const counters = (a: unknown) =>
      Array.isArray(a) && a.length === n && a.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff);
    if (
      typeof state !== 'object' ||
      state === null ||
      !Number.isInteger(state.current) ||
      state.current < -1 ||
      state.current >= n ||
      !counters(state.counts) ||
      !counters(state.notifications)
    ) {
      throw new DeviceError('invalid-state', 'pci-testdev: malformed saved state', {
        deviceType: 'pci-testdev',
        property: 'state',
      });
    }
    this.state = {
      current: state.current,
      counts: [...state.counts],
      notifications: [...state.notifications],
    };
  }

  private makeBar(space: PciTestdevSpace, size: number): PciTestdevBar {
    return {
      size,
      read: (offset, accessSize) => this.barRead(space, size, offset, accessSize),
      write: (offset, value, accessSize) => this.barWrite(space, size, offset, value, accessSize),
    };
  }

  private barRead(space: PciTestdevSpace, barSize: number, offset: number, size: number): number {
    if (!this.inRange(space, barSize, offset, size)) return 0;
    let value = 0;
    for (let i = 0; i < size; i++) value |= this.readByte(offset + i) << (8 * i);
    return value >>> 0;
  }

  private barWrite(
    space: PciTestdevSpace,
    barSize: number,
    offset: number,
    value: number,
    size: number,
  ): void {
    if (!this.inRange(space, barSize, offset, size, value)) return;
    if (offset % size !== 0) {
      if (space === 'portio') {
        // An unaligned multi-byte port access never reaches QEMU's device.
        this.guestError(space, 'unaligned I/O access dropped', offset, size, value);
        return;
      }
      // Unaligned MMIO is cut into naturally aligned pieces before the ioeventfd match.
      for (const piece of alignedPieces(offset, size)) {
        this.dispatchWrite(
          space,
          piece.offset,
          (value >>> (8 * (piece.offset - offset))) & sizeMask(piece.size),
          piece.size,
        );
      }
      return;
    }
    this.dispatchWrite(space, offset, value, size);
  }

  /** One naturally aligned write: ioeventfd match on the whole access, then byte by byte. */
  private dispatchWrite(space: PciTestdevSpace, offset: number, value: number, size: number): void {
    const test = this.currentTest;
    if (
      this.ioeventfd &&
      test?.hasIoeventfd &&
      test.space === space &&
      offset === test.offset &&
      size === test.width &&
      (!test.matchData || (value & 0xff) === test.data)
    ) {
      this.state.notifications[test.index] = (this.state.notifications[test.index]! + 1) >>> 0;
      this.onIoeventfd?.(test);
      return;
    }
    for (let i = 0; i < size; i++) this.writeByte(space, offset + i, (value >>> (8 * i)) & 0xff);
  }

  private writeByte(space: PciTestdevSpace, offset: number, byte: number): void {
    if (offset === PciTestdevHeader.Test) {
      this.selectTest(space, byte);
      return;
    }
    const test = this.currentTest;
    // QEMU's write handler checks only the offset, not which BAR the write came through: a write
    // on the other BAR at the current test's offset counts too (only the ioeventfd is per BAR).
    if (test === undefined || offset !== test.offset) return;
    if (test.matchData && byte !== test.data) return;
    this.state.counts[test.index] = (this.state.counts[test.index]! + 1) >>> 0;
  }

  /** Select test `number` of `space`'s BAR; a number past the last test deselects. */
  private selectTest(space: PciTestdevSpace, number: number): void {
    this.state.current = -1;
    if (number >= PCI_TESTDEV_TESTS_PER_BAR) return;
    const index = SPACES.indexOf(space) * PCI_TESTDEV_TESTS_PER_BAR + number;
    this.state.counts[index] = 0;
    this.state.current = index;
  }

  private readByte(offset: number): number {
    const test = this.currentTest;
    if (test === undefined) return 0;
    if (offset >= PciTestdevHeader.Count && offset < PciTestdevHeader.Count + 4) {
      return (this.state.counts[test.index]! >>> (8 * (offset - PciTestdevHeader.Count))) & 0xff;
    }
    return STATIC_HEADERS[test.index]![offset] ?? 0;
  }

  private inRange(
    space: PciTestdevSpace,
    barSize: number,
    offset: number,
    size: number,
    value?: number,
  ): boolean {
    if (Number.isInteger(offset) && offset >= 0 && offset + size <= barSize) return true;
    this.guestError(space, 'access outside the BAR', offset, size, value);
    return false;
  }

  private guestError(
    space: PciTestdevSpace,
    message: string,
    offset: number,
    size: number,
    value?: number,
  ): void {
    this.log.guestError({
      device: 'pci-testdev',
      register: space === 'mmio' ? 'BAR0' : 'BAR1',
      message,
      offset,
      size,
      ...(value === undefined ? {} : { value }),
    });
  }
}

function sizeMask(size: number): number {
  return size >= 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
}

/** Cut [offset, offset+size) into naturally aligned power-of-two pieces, as QEMU's dispatcher does. */
function alignedPieces(offset: number, size: number): { offset: number; size: number }[] {
  const pieces: { offset: number; size: number }[] = [];
  let at = offset;
  let left = size;
  while (left > 0) {
    let piece = 4;
    while (piece > left || at % piece !== 0) piece >>= 1;
    pieces.push({ offset: at, size: piece });
    at += piece;
    left -= piece;
  }
  return pieces;
}

const SIZE_SUFFIXES: Record<string, bigint> = {
  '': 1n,
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
};

/** A QEMU `size` property: bytes, with an optional K/M/G/T (binary) suffix, e.g. `1M`. */
const sizeProperty = (description: string) =>
  prop.custom<bigint>({
    typeName: 'size',
    description,
    default: 0n,
    parse(input) {
      if (typeof input === 'bigint' || typeof input === 'number') {
        const v = BigInt(input);
        if (v < 0n || v >= 1n << 64n) throw new RangeError(`${input} is out of range for a size`);
        return v;
      }
      const m = typeof input === 'string' ? /^\s*(0x[0-9a-f]+|[0-9]+)\s*([KMGT]?)B?\s*$/i.exec(input) : null;
      if (m === null)
        throw new TypeError(`'${String(input)}' is not a size (bytes, optionally with K, M, G or T)`);
      const v = BigInt(m[1]!) * SIZE_SUFFIXES[m[2]!.toUpperCase()]!;
      if (v >= 1n << 64n) throw new RangeError(`${input} is out of range for a size`);
      return v;
    },
    format: (v) => String(v),
  });

/** Properties of `-device pci-testdev`. */
export const pciTestdevProperties = {
  membar: sizeProperty('size of the optional BAR2 (64-bit prefetchable memory; a power of two, 0 = none)'),
  'membar-backed': prop.bool({
    default: false,
    description: 'back BAR2 with RAM (otherwise it decodes nothing)',
  }),
  'x-ioeventfd': prop.bool({
    default: true,
    description: 'writes matched by the eventfd tests go to their ioeventfd, uncounted, as in QEMU',
  }),
} as const;

/**
 * `-device pci-testdev`: 1b36:0005, class 0x00ff00, no interrupt pin, BAR0 4 KiB 32-bit memory
 * and BAR1 256 bytes of I/O, each starting with the test header; with `membar=SIZE`, a BAR2 of
 * 64-bit prefetchable memory (RAM with `membar-backed=on`), as QEMU's `membar` options.
 */
export const pciTestdevDevice = defineDevice({
  name: 'pci-testdev',
  description: 'PCI Test Device (1b36:0005)',
  identity: { ...PCI_TESTDEV_PCI_IDS, interruptPin: 0 },
  properties: pciTestdevProperties,
  create: (ctx) => new PciTestdev({ ioeventfd: ctx.props['x-ioeventfd'], log: ctx.log }),
  bars: ({ mmio, portio }, ctx) => {
    const membar = ctx.props.membar;
    return [
      // The memory core cuts unaligned MMIO into aligned pieces (as QEMU's dispatcher does); the
      // device does its own byte split to match ioeventfds on whole accesses.
      {
        index: 0,
        kind: 'mem32',
        size: PCI_TESTDEV_MMIO_SIZE,
        ops: {
          read: (offset, size) => mmio.read(offset, size),
          write: (offset, value, size) => mmio.write(offset, value, size),
          impl: { minAccessSize: 1, maxAccessSize: 4 },
        },
      },
      // Port I/O reaches the device whole, unaligned included: the device drops unaligned accesses.
      {
        index: 1,
        kind: 'io',
        size: PCI_TESTDEV_PORTIO_SIZE,
        ops: {
          read: (offset, size) => portio.read(offset, size),
          write: (offset, value, size) => portio.write(offset, value, size),
          valid: { unaligned: true },
          impl: { minAccessSize: 1, maxAccessSize: 4, unaligned: true },
        },
      },
      // QEMU's BAR2: plain RAM when backed, else an empty container (reads 0, writes dropped).
      ...(membar === 0n
        ? []
        : [
            ctx.props['membar-backed']
              ? { index: 2, kind: 'mem64' as const, prefetchable: true, ram: membar }
              : {
                  index: 2,
                  kind: 'mem64' as const,
                  prefetchable: true,
                  region: MemoryRegion.container('pci-testdev-membar', membar, { owner: ctx.pci }),
                },
          ]),
    ];
  },
  unrealize: (testdev) => testdev.reset('cold'),
  reset: (testdev, kind) => testdev.reset(kind),
  state: deviceState({
    schema: pciTestdevVmState,
    save: (testdev: PciTestdev) => testdev.saveState(),
    load: (testdev: PciTestdev, v) => testdev.restoreState(v),
  }),
});
