import { Command, Errno } from '@vfu/protocol';
import { type Channel, channelPair, isTransportError } from '@vfu/transport';
import { describe, expect, onTestFinished, test } from 'vitest';
import { ConnectionBudget } from '../src/index';
import { REG } from '../test/support/device';
import { connected, makeEndpoint } from '../test/support/endpoint';

/** Attaches `n` raw connections to `attach`; returns the client ends and how many closed at once. */
function flood(attach: (c: Channel) => void, n: number) {
  const clients: Channel[] = [];
  for (let i = 0; i < n; i++) {
    const [server, client] = channelPair();
    onTestFinished(() => client.destroy());
    attach(server);
    clients.push(client);
  }
  return clients;
}

describe('connection floods', () => {
  test('an endpoint holds a few refused clients for their EBUSY reply and closes the rest at once, with one warning', async () => {
    const { server, client, logs } = await connected({ connectionCaps: { maxPendingConnections: 3 } });
    const clients = flood((c) => server.attach(c), 50);
    expect(server.refusedConnections).toEqual({ pending: 3, total: 50 });
    // The held ones still get their answer.
    const err = await clients[0]!.request(1, new Uint8Array(0)).catch((e: unknown) => e);
    expect(isTransportError(err) && err.errno).toBe(Errno.EBUSY);
    await new Promise((r) => setImmediate(r));
    expect(logs.filter((l) => l.includes('refusing client'))).toHaveLength(1);
    expect(await client.barRead32(0, REG.ID)).not.toBe(0);
  });

  test('a budget shared by endpoints caps refused clients held in total', async () => {
    const budget = new ConnectionBudget({ maxPending: 4 });
    const a = await connected({ id: 'a0', connectionBudget: budget });
    const b = makeEndpoint({ id: 'b0', connectionBudget: budget });
    const bClient = flood((c) => b.server.attach(c), 1);
    expect(b.server.connected).toBe(true);
    flood((c) => a.server.attach(c), 3);
    flood((c) => b.server.attach(c), 3);
    expect(a.server.refusedConnections.pending + b.server.refusedConnections.pending).toBe(4);
    expect(budget.pending).toBe(4);
    await a.server.close();
    await b.server.close();
    expect(budget.pending).toBe(0);
    bClient[0]!.destroy();
  });
});

describe('DMA bytes mapped', () => {
  test('a DMA_MAP past maxDmaBytes is ENOSPC; unmapping makes room again', async () => {
    const { client, server } = await connected({ connectionCaps: { maxDmaBytes: 0x3000 } });
    const map = (addr: bigint, size: bigint) =>
      client.errno(Command.DmaMap, { argsz: 32, flags: 3, offset: 0n, addr, size });
    expect(await map(0x10000n, 0x2000n)).toBe(0);
    expect(await map(0x20000n, 0x2000n)).toBe(Errno.ENOSPC);
    expect(await map(0x20000n, 0x1000n)).toBe(0);
    expect(server.dmaMappings).toHaveLength(2);
    expect(await client.errno(Command.DmaUnmap, { argsz: 32, flags: 0, addr: 0x10000n, size: 0x2000n })).toBe(
      0,
    );
    expect(await map(0x30000n, 0x2000n)).toBe(0);
  });
});
