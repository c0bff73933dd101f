import { regs } from '@vfu/pci';
import { Command, Errno } from '@vfu/protocol';
import { describe, expect, test } from 'vitest';
import { le } from '../test/support/client';
import { DEVICE_ID_VALUE, REG } from '../test/support/device';
import { connected } from '../test/support/endpoint';

describe('REGION_READ / REGION_WRITE on config space', () => {
  test('reads the header through the PCI model', async () => {
    const { client } = await connected();
    expect(await client.configRead(regs.PCI_VENDOR_ID, 2)).toBe(0x1af4);
    expect(await client.configRead(regs.PCI_DEVICE_ID, 2)).toBe(0x10f0);
    expect(await client.configRead(regs.PCI_REVISION_ID, 1)).toBe(2);
    // An unaligned 3-byte read is split into aligned accesses.
    const bytes = await client.regionRead(7, 1n, 3);
    expect([...bytes]).toEqual([0x1a, 0xf0, 0x10]);
  });

  test('read-only bits stay as they are; BAR sizing reads back the size mask', async () => {
    const { client } = await connected();
    await client.configWrite(regs.PCI_VENDOR_ID, 0xffff, 2);
    expect(await client.configRead(regs.PCI_VENDOR_ID, 2)).toBe(0x1af4);
    await client.configWrite(regs.PCI_BASE_ADDRESS_0, 0xffffffff, 4);
    expect(await client.configRead(regs.PCI_BASE_ADDRESS_0, 4)).toBe(0xfffff000);
  });

  test('BAR programming moves the BAR mappings in the endpoint bus spaces', async () => {
    const { client, server } = await connected();
    await client.configWrite(regs.PCI_BASE_ADDRESS_0, 0xfe000000, 4);
    await client.configWrite(regs.PCI_BASE_ADDRESS_0 + 4, 0xc000, 4);
    await client.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MEMORY | regs.PCI_COMMAND_IO, 2);
    expect(server.bus.memoryAddressSpace.readU32(0xfe000000n)).toBe(DEVICE_ID_VALUE);
    server.bus.ioAddressSpace.writeU8(0xc000n, 0x5a);
    expect((await client.regionRead(1, 0n, 1))[0]).toBe(0x5a);
    await client.configWrite(regs.PCI_BASE_ADDRESS_0, 0xfd000000, 4);
    expect(server.bus.memoryAddressSpace.read(0xfe000000n, new Uint8Array(4))).toBe('decode-error');
    expect(server.bus.memoryAddressSpace.readU32(0xfd000000n)).toBe(DEVICE_ID_VALUE);
  });

  test('out of range accesses are EINVAL', async () => {
    const { client } = await connected();
    expect(await client.errno(Command.RegionRead, { region: 7, offset: 254n, count: 4 })).toBe(Errno.EINVAL);
    expect(await client.errno(Command.RegionRead, { region: 7, offset: 1n << 40n, count: 1 })).toBe(
      Errno.EINVAL,
    );
    expect(
      await client.errno(Command.RegionWrite, { region: 7, offset: 256n, count: 1, data: Uint8Array.of(1) }),
    ).toBe(Errno.EINVAL);
  });
});

describe('REGION_READ / REGION_WRITE on BARs', () => {
  test('BAR offsets are region-relative whatever the guest programmed', async () => {
    const { client, device } = await connected();
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
    await client.barWrite32(0, REG.SCRATCH, 0xcafef00d);
    expect(device.scratch).toBe(0xcafef00d);
    expect(await client.barRead32(0, REG.SCRATCH)).toBe(0xcafef00d);
    // Byte access: the device implements 4-byte callbacks, the memory core widens.
    expect([...(await client.regionRead(0, BigInt(REG.SCRATCH), 2))]).toEqual([0x0d, 0xf0]);
  });

  test('the IO BAR and the RAM BAR', async () => {
    const { client, device } = await connected();
    await client.regionWrite(1, 0n, Uint8Array.of(0x42));
    expect(device.ioScratch).toBe(0x42);
    const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    await client.regionWrite(2, 0x100n, data);
    expect([...device.ram!.ramBuffer!.subarray(0x100, 0x100 + 300)]).toEqual([...data]);
    expect([...(await client.regionRead(2, 0x100n, 300))]).toEqual([...data]);
  });

  test('the ROM reads its contents and refuses writes', async () => {
    const { client } = await connected();
    expect([...(await client.regionRead(6, 0n, 3))]).toEqual([0x55, 0xaa, 0x04]);
    expect(
      await client.errno(Command.RegionWrite, { region: 6, offset: 0n, count: 1, data: Uint8Array.of(0) }),
    ).toBe(Errno.EINVAL);
  });

  test('beyond the BAR, unimplemented BARs and VGA are EINVAL', async () => {
    const { client } = await connected();
    expect(await client.errno(Command.RegionRead, { region: 0, offset: 0xffcn, count: 8 })).toBe(
      Errno.EINVAL,
    );
    expect(await client.errno(Command.RegionRead, { region: 3, offset: 0n, count: 4 })).toBe(Errno.EINVAL);
    expect(await client.errno(Command.RegionRead, { region: 8, offset: 0n, count: 1 })).toBe(Errno.EINVAL);
    expect(await client.errno(Command.RegionRead, { region: 9, offset: 0n, count: 1 })).toBe(Errno.EINVAL);
  });

  test('an access the device model refuses is EIO, and the endpoint keeps serving', async () => {
    const { client } = await connected();
    // MSI-X table entries accept only 4- or 8-byte accesses: a 1-byte write is refused.
    expect(
      await client.errno(Command.RegionWrite, { region: 4, offset: 1n, count: 1, data: Uint8Array.of(1) }),
    ).toBe(Errno.EIO);
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
  });

  test('a count-0 read is answered header-only; a count-0 write is echoed', async () => {
    const { client } = await connected();
    const r = await client.call(Command.RegionRead, { region: 0, offset: 0n, count: 0 });
    expect(r.body).toEqual({ form: 'header-only' });
    const w = await client.call(Command.RegionWrite, {
      region: 0,
      offset: 4n,
      count: 0,
      data: new Uint8Array(0),
    });
    expect(w.body).toEqual({ region: 0, offset: 4n, count: 0 });
  });

  test('posted writes are applied in order before a later read', async () => {
    const { client } = await connected();
    const writes = [];
    for (let i = 1; i <= 20; i++) {
      writes.push(
        client.post(Command.RegionWrite, {
          region: 0,
          offset: BigInt(REG.SCRATCH),
          count: 4,
          data: le(i, 4),
        }),
      );
    }
    await Promise.all(writes);
    expect(await client.barRead32(0, REG.SCRATCH)).toBe(20);
  });
});

describe('REGION_WRITE_MULTI', () => {
  test('applies every write in order and reports the count', async () => {
    const { client, device } = await connected();
    const r = await client.call(Command.RegionWriteMulti, {
      writes: [
        { region: 0, offset: BigInt(REG.SCRATCH), data: le(1, 4) },
        { region: 1, offset: 0n, data: Uint8Array.of(9) },
        { region: 0, offset: BigInt(REG.SCRATCH), data: le(7, 4) },
      ],
    });
    expect(r.body.wrCnt).toBe(3n);
    expect(device.scratch).toBe(7);
    expect(device.ioScratch).toBe(9);
  });

  test('a bad entry fails the message with EINVAL', async () => {
    const { client } = await connected();
    expect(
      await client.errno(Command.RegionWriteMulti, {
        writes: [{ region: 0, offset: 0x1000n, data: le(1, 4) }],
      }),
    ).toBe(Errno.EINVAL);
  });
});

describe('region bounds', () => {
  test('offset + count is compared without wrapping: an offset near 2^64 never reaches a small offset', async () => {
    const { client } = await connected();
    // The decoder refuses sums past 2^64; just below, the sum is far past every region.
    const near = (1n << 64n) - 16n;
    expect(await client.errno(Command.RegionRead, { region: 0, offset: near, count: 16 })).toBe(Errno.EINVAL);
    expect(
      await client.errno(Command.RegionWrite, { region: 7, offset: near, count: 4, data: le(1, 4) }),
    ).toBe(Errno.EINVAL);
    expect(await client.errno(Command.RegionRead, { region: 7, offset: 0xffff_ffffn, count: 1 })).toBe(
      Errno.EINVAL,
    );
  });

  test('an access ending exactly at the end of a region is allowed; one byte more is EINVAL', async () => {
    const { client } = await connected();
    expect(await client.errno(Command.RegionRead, { region: 7, offset: 252n, count: 4 })).toBe(0);
    expect(await client.errno(Command.RegionRead, { region: 7, offset: 253n, count: 4 })).toBe(Errno.EINVAL);
    expect(await client.errno(Command.RegionRead, { region: 2, offset: 0n, count: 0x2000 })).toBe(0);
    expect(await client.errno(Command.RegionRead, { region: 2, offset: 1n, count: 0x2000 })).toBe(
      Errno.EINVAL,
    );
  });

  test('REGION_WRITE with count above max_data_xfer_size is E2BIG, and the endpoint keeps serving', async () => {
    const { client, device } = await connected({ limits: { maxDataXferSize: 4096 } });
    // Our client would refuse to send it: lift its own limit to reach the server's check.
    client.channel.setSendLimits({ maxMessageSize: 1 << 20, maxFdsPerMessage: 8 });
    const data = new Uint8Array(4097);
    expect(await client.errno(Command.RegionWrite, { region: 2, offset: 0n, count: data.length, data })).toBe(
      Errno.E2BIG,
    );
    expect(device.ram!.ramBuffer![0]).toBe(0);
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
  });

  test('REGION_WRITE_MULTI: an out-of-bounds entry after good ones fails the message and applies none', async () => {
    const { client, device } = await connected();
    device.scratch = 5;
    expect(
      await client.errno(Command.RegionWriteMulti, {
        writes: [
          { region: 0, offset: BigInt(REG.SCRATCH), data: le(1, 4) },
          { region: 1, offset: 0n, data: Uint8Array.of(9) },
          { region: 7, offset: 254n, data: le(1, 4) },
        ],
      }),
    ).toBe(Errno.EINVAL);
    expect(device.scratch).toBe(5);
    expect(device.ioScratch).toBe(0);
  });

  test('REGION_WRITE_MULTI: a bad region index or a ROM entry fails the message and applies none', async () => {
    const { client, device } = await connected();
    for (const bad of [
      { region: 9, offset: 0n, data: Uint8Array.of(1) },
      { region: 3, offset: 0n, data: Uint8Array.of(1) },
      { region: 6, offset: 0n, data: Uint8Array.of(1) },
    ]) {
      expect(
        await client.errno(Command.RegionWriteMulti, {
          writes: [{ region: 0, offset: BigInt(REG.SCRATCH), data: le(3, 4) }, bad],
        }),
      ).toBe(Errno.EINVAL);
    }
    expect(device.scratch).toBe(0);
  });

  test('a posted REGION_WRITE_MULTI is applied before a later read', async () => {
    const { client } = await connected();
    await client.post(Command.RegionWriteMulti, {
      writes: [
        { region: 0, offset: BigInt(REG.SCRATCH), data: le(1, 4) },
        { region: 0, offset: BigInt(REG.SCRATCH), data: le(0x77, 4) },
      ],
    });
    expect(await client.barRead32(0, REG.SCRATCH)).toBe(0x77);
  });
});

describe('holes in a BAR', () => {
  test('read as zeros and drop writes, logged as a guest error', async () => {
    const { client, logs } = await connected();
    // BAR4 holds the MSI-X table at 0 and the PBA further up; between them nothing decodes.
    expect([...(await client.regionRead(4, 0x100n, 4))]).toEqual([0, 0, 0, 0]);
    await client.regionWrite(4, 0x100n, Uint8Array.of(1, 2, 3, 4));
    expect(logs.filter((l) => l.includes('guest error')).length).toBe(2);
  });
});
