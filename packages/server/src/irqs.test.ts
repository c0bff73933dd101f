import { regs } from '@vfu/pci';
import { Command, Errno, encodeMessage, HEADER_SIZE, VfioPciIrq } from '@vfu/protocol';
import { EventFd, listOpenFds } from '@vfu/sys';
import { describe, expect, onTestFinished, test } from 'vitest';
import { type TestClient, until } from '../test/support/client';
import type { TestDevice } from '../test/support/device';
import { connected } from '../test/support/endpoint';

function eventfds(n: number): EventFd[] {
  const list = Array.from({ length: n }, () => EventFd.create());
  onTestFinished(() => {
    for (const e of list) if (!e.closed) e.close();
  });
  return list;
}

/** What each eventfd counted since the last look (0 = not signalled). */
function counts(list: EventFd[]): number[] {
  return list.map((e) => Number(e.read() ?? 0n));
}

async function setTriggers(client: TestClient, index: number, fds: EventFd[], start = 0) {
  await client.call(
    Command.DeviceSetIrqs,
    { argsz: 20, action: 'trigger', dataType: 'eventfd', index, start, count: fds.length },
    { fds },
  );
}

async function enableMsix(client: TestClient, device: TestDevice) {
  const cap = device.msix!.offset;
  await client.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MASTER, 2);
  await client.configWrite(cap + regs.PCI_MSIX_FLAGS, regs.PCI_MSIX_FLAGS_ENABLE, 2);
  for (let v = 0; v < 4; v++) {
    await client.regionWrite(
      4,
      BigInt(v * 16),
      Uint8Array.of(0, 0, 0xe0, 0xfe, 0, 0, 0, 0, v, 0, 0, 0, 0, 0, 0, 0),
    );
  }
}

describe('DEVICE_SET_IRQS with eventfds', () => {
  test('MSI-X vectors signal their eventfd; one raised before a trigger is pending until it appears', async () => {
    const { client, device, server } = await connected();
    await enableMsix(client, device);
    device.raise(1);
    expect(server.irqState(VfioPciIrq.Msix).pending).toEqual([false, true, false, false]);
    const fds = eventfds(4);
    await setTriggers(client, VfioPciIrq.Msix, fds);
    expect(counts(fds)).toEqual([0, 1, 0, 0]);
    device.raise(3);
    device.raise(3);
    expect(counts(fds)).toEqual([0, 0, 0, 2]);
    expect(server.irqState(VfioPciIrq.Msix).triggers).toEqual([true, true, true, true]);
  });

  test('MASK/UNMASK with DATA_NONE and DATA_BOOL hold interrupts back and release them', async () => {
    const { client, device } = await connected();
    await enableMsix(client, device);
    const fds = eventfds(4);
    await setTriggers(client, VfioPciIrq.Msix, fds);
    await client.call(Command.DeviceSetIrqs, {
      argsz: 20,
      action: 'mask',
      dataType: 'none',
      index: 2,
      start: 0,
      count: 4,
    });
    device.raise(0);
    device.raise(2);
    expect(counts(fds)).toEqual([0, 0, 0, 0]);
    await client.call(Command.DeviceSetIrqs, {
      argsz: 24,
      action: 'unmask',
      dataType: 'bool',
      index: 2,
      start: 0,
      count: 4,
      data: Uint8Array.of(0, 0, 1, 0),
    });
    expect(counts(fds)).toEqual([0, 0, 1, 0]);
    await client.call(Command.DeviceSetIrqs, {
      argsz: 20,
      action: 'unmask',
      dataType: 'none',
      index: 2,
      start: 0,
      count: 1,
    });
    expect(counts(fds)).toEqual([1, 0, 0, 0]);
  });

  test('MSI vectors use the MSI index', async () => {
    const { client, device } = await connected();
    const cap = device.msi!.offset;
    await client.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MASTER, 2);
    await client.configWrite(cap + regs.PCI_MSI_FLAGS, regs.PCI_MSI_FLAGS_ENABLE | (1 << 4), 2);
    const fds = eventfds(2);
    await setTriggers(client, VfioPciIrq.Msi, fds);
    device.raise(1);
    expect(counts(fds)).toEqual([0, 1]);
  });

  test('INTx is automasked: one signal per assertion until UNMASK, which re-signals a held line', async () => {
    const { client, device, server } = await connected();
    const [fd] = eventfds(1);
    await setTriggers(client, VfioPciIrq.Intx, [fd!]);
    device.intxAssert();
    expect(counts([fd!])).toEqual([1]);
    expect(server.irqState(VfioPciIrq.Intx).masked).toEqual([true]);
    device.intxDeassert();
    device.intxAssert();
    expect(counts([fd!])).toEqual([0]);
    await client.call(Command.DeviceSetIrqs, {
      argsz: 20,
      action: 'unmask',
      dataType: 'none',
      index: 0,
      start: 0,
      count: 1,
    });
    expect(counts([fd!])).toEqual([1]);
    device.intxDeassert();
    await client.call(Command.DeviceSetIrqs, {
      argsz: 20,
      action: 'unmask',
      dataType: 'none',
      index: 0,
      start: 0,
      count: 1,
    });
    expect(counts([fd!])).toEqual([0]);
  });

  test('INTx asserted before the trigger is delivered when it is assigned; an unmask eventfd unmasks', async () => {
    const { client, device, server } = await connected();
    device.intxAssert();
    const [trigger, unmask] = eventfds(2);
    await setTriggers(client, VfioPciIrq.Intx, [trigger!]);
    expect(counts([trigger!])).toEqual([1]);
    await client.call(
      Command.DeviceSetIrqs,
      { argsz: 20, action: 'unmask', dataType: 'eventfd', index: 0, start: 0, count: 1 },
      { fds: [unmask!] },
    );
    unmask!.signal();
    // The line is still asserted: the unmask re-signals it, and automasking masks it again.
    let signalled = 0n;
    await until(() => {
      signalled += trigger!.read() ?? 0n;
      return signalled > 0n;
    });
    expect(signalled).toBe(1n);
    expect(server.irqState(VfioPciIrq.Intx).masked).toEqual([true]);
  });

  test('sending no fds de-assigns; count 0 disables the whole index and closes its eventfds', async () => {
    const { client, device, server } = await connected();
    await enableMsix(client, device);
    const fds = eventfds(4);
    await setTriggers(client, VfioPciIrq.Msix, fds);
    await client.call(Command.DeviceSetIrqs, {
      argsz: 20,
      action: 'trigger',
      dataType: 'eventfd',
      index: 2,
      start: 1,
      count: 1,
    });
    expect(server.irqState(VfioPciIrq.Msix).triggers).toEqual([true, false, true, true]);
    device.raise(1);
    expect(counts(fds)).toEqual([0, 0, 0, 0]);
    const before = listOpenFds().length;
    await client.call(Command.DeviceSetIrqs, {
      argsz: 20,
      action: 'trigger',
      dataType: 'none',
      index: 2,
      start: 0,
      count: 0,
    });
    expect(server.irqState(VfioPciIrq.Msix).triggers).toEqual([false, false, false, false]);
    expect(listOpenFds().length).toBe(before - 3);
  });

  test('ERR and REQ: loopback trigger and server-raised REQ reach their eventfds', async () => {
    const { client, server } = await connected();
    const [err, req] = eventfds(2);
    await setTriggers(client, VfioPciIrq.Err, [err!]);
    await setTriggers(client, VfioPciIrq.Req, [req!]);
    await client.call(Command.DeviceSetIrqs, {
      argsz: 20,
      action: 'trigger',
      dataType: 'none',
      index: 3,
      start: 0,
      count: 1,
    });
    server.raiseIrq(VfioPciIrq.Req);
    expect(counts([err!, req!])).toEqual([1, 1]);
  });
});

describe('DEVICE_SET_IRQS validation', () => {
  test('bad index, range, action for ERR/REQ, fd count: EINVAL, with the fds closed', async () => {
    const { client } = await connected();
    const fds = eventfds(2);
    const before = listOpenFds().length;
    const e = (body: Parameters<TestClient['errno']>[1], opts = {}) =>
      client.errno(Command.DeviceSetIrqs, body as never, opts);
    expect(await e({ argsz: 20, action: 'trigger', dataType: 'none', index: 5, start: 0, count: 1 })).toBe(
      Errno.EINVAL,
    );
    expect(await e({ argsz: 20, action: 'trigger', dataType: 'none', index: 2, start: 3, count: 2 })).toBe(
      Errno.EINVAL,
    );
    expect(await e({ argsz: 20, action: 'trigger', dataType: 'none', index: 0, start: 1, count: 1 })).toBe(
      Errno.EINVAL,
    );
    expect(await e({ argsz: 20, action: 'mask', dataType: 'none', index: 3, start: 0, count: 1 })).toBe(
      Errno.EINVAL,
    );
    expect(
      await e({ argsz: 20, action: 'trigger', dataType: 'eventfd', index: 2, start: 0, count: 3 }, { fds }),
    ).toBe(Errno.EINVAL);
    expect(
      await e({ argsz: 20, action: 'mask', dataType: 'eventfd', index: 2, start: 0, count: 2 }, { fds }),
    ).toBe(Errno.EINVAL);
    expect(
      await e({ argsz: 20, action: 'trigger', dataType: 'eventfd', index: 1, start: 1, count: 2 }, { fds }),
    ).toBe(Errno.EINVAL);
    expect(listOpenFds().length).toBe(before);
  });

  test('fds with DATA_NONE or DATA_BOOL are EINVAL and closed', async () => {
    const { client, server } = await connected();
    const [fd] = eventfds(1);
    const before = listOpenFds().length;
    for (const dataType of ['none', 'bool'] as const) {
      const body = { argsz: 21, action: 'trigger', dataType, index: 3, start: 0, count: 1 } as const;
      const payload = encodeMessage({
        kind: 'request',
        command: Command.DeviceSetIrqs,
        msgId: 0,
        body: dataType === 'bool' ? { ...body, data: Uint8Array.of(1) } : { ...body, argsz: 20 },
      }).subarray(HEADER_SIZE);
      expect(await client.rawErrno(Command.DeviceSetIrqs, payload, [fd!])).toBe(Errno.EINVAL);
    }
    expect(listOpenFds().length).toBe(before);
    expect(server.irqState(VfioPciIrq.Err).triggers).toEqual([false]);
  });

  test('ERR and REQ take one sub-index: count 2 is EINVAL', async () => {
    const { client } = await connected();
    for (const index of [VfioPciIrq.Err, VfioPciIrq.Req]) {
      expect(
        await client.errno(Command.DeviceSetIrqs, {
          argsz: 20,
          action: 'trigger',
          dataType: 'none',
          index,
          start: 0,
          count: 2,
        }),
      ).toBe(Errno.EINVAL);
    }
  });

  test('a refused SET_IRQS changes nothing: assigned eventfds stay and still fire', async () => {
    const { client, device, server } = await connected();
    await enableMsix(client, device);
    const fds = eventfds(4);
    await setTriggers(client, VfioPciIrq.Msix, fds);
    const extra = eventfds(2);
    const before = listOpenFds().length;
    // start 3 + count 2 runs past the 4 vectors.
    expect(
      await client.errno(
        Command.DeviceSetIrqs,
        { argsz: 20, action: 'trigger', dataType: 'eventfd', index: 2, start: 3, count: 2 },
        { fds: extra },
      ),
    ).toBe(Errno.EINVAL);
    expect(listOpenFds().length).toBe(before);
    expect(server.irqState(VfioPciIrq.Msix).triggers).toEqual([true, true, true, true]);
    device.raise(3);
    expect(counts(fds)).toEqual([0, 0, 0, 1]);
  });
});
