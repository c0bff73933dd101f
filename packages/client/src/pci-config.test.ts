import { describe, expect, it } from 'vitest';
import { EDU_CONFIG } from '../test/configs';
import {
  decodeBar,
  type PciBar,
  parseConfigHeader,
  parseMsiCapability,
  planBarAssignment,
  walkCapabilities,
} from './pci-config';

describe('config header and capabilities', () => {
  it('parses the edu header', () => {
    expect(parseConfigHeader(EDU_CONFIG)).toMatchObject({
      vendorId: 0x1234,
      deviceId: 0x11e8,
      command: 0x0103,
      status: 0x0010,
      revision: 0x10,
      classCode: 0x00ff00,
      subsystemVendorId: 0x1af4,
      subsystemId: 0x1100,
      interruptPin: 1,
      capabilitiesPointer: 0x40,
    });
  });

  it('finds edu MSI: 64-bit, one vector, not maskable', () => {
    expect(walkCapabilities(EDU_CONFIG).map((c) => [c.id, c.offset])).toEqual([[5, 0x40]]);
    expect(parseMsiCapability(EDU_CONFIG, 0x40)).toMatchObject({
      enabled: false,
      maxVectors: 1,
      is64Bit: true,
      perVectorMasking: false,
      dataOffset: 0x4c,
    });
  });

  it('stops on a capability loop', () => {
    const c = EDU_CONFIG.slice();
    c[0x41] = 0x40; // points at itself
    expect(walkCapabilities(c).length).toBe(1);
  });

  it('ignores the list when STATUS.CAP_LIST is clear', () => {
    const c = EDU_CONFIG.slice();
    c[6] = 0;
    expect(walkCapabilities(c)).toEqual([]);
  });

  it('walks extended capabilities in a 4 KiB config space', () => {
    const c = new Uint8Array(4096);
    c.set(EDU_CONFIG);
    new DataView(c.buffer).setUint32(0x100, (0x140 << 20) | (1 << 16) | 0x0001, true); // AER -> 0x140
    new DataView(c.buffer).setUint32(0x140, (0 << 20) | (1 << 16) | 0x0003, true); // DSN, end
    expect(
      walkCapabilities(c)
        .filter((x) => x.extended)
        .map((x) => [x.offset, x.name]),
    ).toEqual([
      [0x100, 'Advanced Error Reporting'],
      [0x140, 'Device Serial Number'],
    ]);
  });

  it('refuses a snapshot shorter than the header', () => {
    expect(() => parseConfigHeader(new Uint8Array(16))).toThrow(/64/);
  });
});

describe('BAR decoding', () => {
  it('decodes the sizing results seen in the golden vectors', () => {
    // gpio-pci-idio-16 BAR2 sizes to 0xffffff01: IO, 256 bytes.
    expect(decodeBar(2, 0x1, 0xffffff01)).toMatchObject({ kind: 'io', size: 0x100n });
    // shadow_ioeventfd_server's memory BAR0 sizes to 0xfffff000: 4 KiB.
    expect(decodeBar(0, 0x0, 0xfffff000)).toMatchObject({
      kind: 'mem32',
      size: 0x1000n,
      prefetchable: false,
    });
    // Unimplemented BARs of libvfio-user read 0x00000001 before and after sizing.
    expect(decodeBar(3, 0x1, 0x1).size).toBe(0n);
  });

  it('decodes a 16-bit IO BAR whose upper half reads zero', () => {
    expect(decodeBar(1, 0x1, 0x0000ff01).size).toBe(0x100n);
  });

  it('decodes a 64-bit prefetchable BAR above 4 GiB', () => {
    expect(decodeBar(2, 0xc, 0xff00000c, 0x10, 0xffffffff)).toEqual({
      index: 2,
      kind: 'mem64',
      prefetchable: true,
      size: 0x100_0000n,
      address: 0x10_0000_0000n,
    });
    // A 64-bit BAR of 8 GiB: all low address bits read back zero.
    expect(decodeBar(0, 0x4, 0x4, 0, 0xfffffffe).size).toBe(0x2_0000_0000n);
  });
});

describe('BAR assignment', () => {
  const bar = (index: number, kind: PciBar['kind'], size: bigint): PciBar => ({
    index,
    kind,
    prefetchable: false,
    size,
    address: 0n,
  });

  it('aligns each BAR to its size, largest first', () => {
    const plan = planBarAssignment([
      bar(0, 'mem32', 0x1000n),
      bar(1, 'mem32', 0x10_0000n),
      bar(2, 'io', 0x8n),
    ]);
    expect(plan.map((p) => [p.bar.index, p.address])).toEqual([
      [0, 0xe010_0000n],
      [1, 0xe000_0000n],
      [2, 0xc000n],
    ]);
  });

  it('puts a BAR larger than the 32-bit window above 4 GiB only when it is 64-bit', () => {
    expect(() => planBarAssignment([bar(0, 'mem32', 0x2000_0000n)])).toThrow(
      expect.objectContaining({ code: 'out-of-range' }),
    );
    expect(planBarAssignment([bar(0, 'mem64', 0x2000_0000n)])[0]?.address).toBe(0x10_0000_0000n);
  });

  it('skips unimplemented BARs', () => {
    expect(planBarAssignment([bar(0, 'mem32', 0n)])).toEqual([]);
  });
});
