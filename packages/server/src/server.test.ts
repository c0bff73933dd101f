import { regs } from '@vfu/pci';
import { Command, Errno, VfioPciIrq } from '@vfu/protocol';
import { createMemfd, EventFd, listOpenFds } from '@vfu/sys';
import { channelPair, isTransportError } from '@vfu/transport';
import { describe, expect, onTestFinished, test } from 'vitest';
import { isServerError, ServerError, VfioUserServer } from '../src/index';
import { TestClient } from '../test/support/client';
import { DEVICE_ID_VALUE, REG, testTree } from '../test/support/device';
import { connected, makeEndpoint } from '../test/support/endpoint';

function disconnected(server: VfioUserServer): Promise<void> {
  return new Promise((resolve) => server.on('client-disconnected', resolve));
}

describe('construction', () => {
  test('creates and adds its root bus; a taken id is bus-id-taken', async () => {
    const tree = testTree();
    const server = new VfioUserServer({ id: 'ep', socketPath: '/tmp/x.sock', tree });
    expect(tree.findBus('ep')).toBe(server.bus);
    expect(() => new VfioUserServer({ id: 'ep', socketPath: '/tmp/y.sock', tree })).toThrow(
      expect.objectContaining({ code: 'bus-id-taken' }),
    );
    await server.close();
    expect(tree.findBus('ep')).toBeUndefined();
    await server.close(); // idempotent
  });

  test('bad options are invalid-option errors', () => {
    const tree = testTree();
    const bad = (opts: object) => {
      try {
        new VfioUserServer({ id: 's9', socketPath: '/tmp/z.sock', tree, ...opts });
      } catch (e) {
        return isServerError(e) ? e.code : 'other';
      }
      return 'none';
    };
    expect(bad({ id: '' })).toBe('invalid-option');
    expect(bad({ id: '9 bad id' })).toBe('invalid-option');
    expect(bad({ socketPath: '' })).toBe('invalid-option');
    expect(bad({ limits: { maxDataXferSize: 0 } })).toBe('invalid-option');
    expect(bad({ limits: { maxMsgFds: 2000 } })).toBe('invalid-option');
    expect(bad({ limits: { maxDmaMaps: 1.5 } })).toBe('invalid-option');
    expect(bad({ requestTimeoutMs: -1 })).toBe('invalid-option');
    expect(new ServerError('closed', 'x')).toBeInstanceOf(Error);
  });

  test('the served device is the function at devfn 0, or the only one', () => {
    const { server, device } = makeEndpoint();
    expect(server.device).toBe(device);
  });
});

describe('clients', () => {
  test('a second client gets EBUSY and is disconnected; the first is not disturbed', async () => {
    const { server, client } = await connected();
    const second = TestClient.attach(server);
    const closed = new Promise((r) => second.channel.once('close', r));
    const err = await second.negotiate().catch((e: unknown) => e);
    expect(isTransportError(err) && err.errno).toBe(Errno.EBUSY);
    await closed;
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
    expect(server.connected).toBe(true);
  });

  test('a client connecting while the bus has no device is refused with a log line', async () => {
    const tree = testTree();
    const logs: string[] = [];
    const server = new VfioUserServer({
      id: 's1',
      socketPath: '/tmp/none.sock',
      tree,
      logger: { debug() {}, info() {}, warn() {}, error: (m) => logs.push(m) },
    });
    onTestFinished(() => server.close());
    const [a, b] = channelPair();
    const closed = new Promise((r) => b.once('close', r));
    server.attach(a);
    await closed;
    expect(logs.join('\n')).toMatch(/no device on bus s1/);
    expect(server.connected).toBe(false);
    tree.deviceAdd({ driver: 'vfu-test', bus: 's1' });
    const client = TestClient.attach(server);
    onTestFinished(() => client.close());
    await client.negotiate();
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
  });

  test('disconnect unmaps DMA, closes fds and eventfds, resets the device; the next client starts clean', async () => {
    const { server, client, device } = await connected();
    const before = listOpenFds().length;
    const mem = createMemfd('m', { size: 0x1000 });
    await client.call(
      Command.DmaMap,
      { argsz: 32, flags: 3, offset: 0n, addr: 0x10000n, size: 0x1000n },
      { fds: [mem] },
    );
    const efds = [EventFd.create(), EventFd.create()];
    await client.call(
      Command.DeviceSetIrqs,
      { argsz: 20, action: 'trigger', dataType: 'eventfd', index: VfioPciIrq.Msi, start: 0, count: 2 },
      { fds: efds },
    );
    await client.barWrite32(0, REG.SCRATCH, 99);
    await client.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MASTER, 2);
    const gone = disconnected(server);
    await client.close();
    await gone;
    mem.close();
    for (const e of efds) e.close();
    // Everything the client gave is closed, and both ends of the connection.
    expect(listOpenFds().length).toBe(before - 2);
    expect(server.dmaMappings).toHaveLength(0);
    expect(server.stats().dmaRegions).toBe(0);
    expect(device.resets).toEqual(['warm']);
    expect(device.scratch).toBe(0);
    expect(server.irqState(VfioPciIrq.Msi).triggers).toEqual([false, false]);
    const next = TestClient.attach(server);
    onTestFinished(() => next.close());
    await next.negotiate();
    expect(await next.configRead(regs.PCI_COMMAND, 2)).toBe(0);
  });

  test('resetOnDisconnect: false keeps the device state for the next client (the spec behaviour)', async () => {
    const { server, client, device } = await connected({ resetOnDisconnect: false });
    await client.barWrite32(0, REG.SCRATCH, 99);
    const gone = disconnected(server);
    await client.close();
    await gone;
    expect(device.resets).toEqual([]);
    expect(device.scratch).toBe(99);
  });

  test('disconnect() and close() end the session from the server side', async () => {
    const { server, client } = await connected();
    const closed = new Promise((r) => client.channel.once('close', r));
    await server.disconnect();
    await closed;
    expect(server.connected).toBe(false);
  });
});

describe('tracing and statistics', () => {
  test('every message in and out is traced in describe() form and counted', async () => {
    const { client, traces, server } = await connected();
    await client.configRead(0, 2);
    await client.errno(Command.DeviceGetIrqInfo, { argsz: 16, index: 9 });
    const lines = traces.map((t) => `${t.direction} ${t.text}`);
    expect(lines).toContain('rx REGION_READ request #0x2 region=7(CONFIG) offset=0x0 count=2');
    expect(lines).toContain('tx REGION_READ reply #0x2 region=7(CONFIG) offset=0x0 count=2 data=f41a');
    expect(lines).toContain('tx DEVICE_GET_IRQ_INFO reply #0x3 ERROR EINVAL(22)');
    expect(lines[0]).toMatch(/^rx VERSION request #0x1 version=0\.2/);
    expect(traces.every((t) => t.endpoint === 's0')).toBe(true);
    const stats = server.stats();
    expect(stats).toMatchObject({ messagesIn: 3, messagesOut: 3, errorsReplied: 1 });
  });
});
