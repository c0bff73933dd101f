import { connectQmp, type QmpTestClient } from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { exists, probeEndpoint, startServer, tempDir } from './support';

async function monitor(path: string): Promise<QmpTestClient> {
  const client = await connectQmp(path);
  onTestFinished(() => client.close());
  return client;
}

async function negotiated(path: string): Promise<QmpTestClient> {
  const client = await monitor(path);
  expect(await client.execute('qmp_capabilities')).toEqual({ return: {} });
  return client;
}

async function serverWithMonitor() {
  const dir = tempDir();
  const qmp = dir.join('qmp.sock');
  const server = await startServer([
    '-object',
    `vfio-user-server,id=s0,socket=${dir.join('edu.sock')}`,
    '-device',
    'edu,id=edu0,bus=s0',
    '-object',
    `vfio-user-server,id=s1,socket=${dir.join('gpio.sock')}`,
    '-device',
    'pci-idio-16,id=gpio0,bus=s1',
    '-qmp',
    `unix:${qmp},server,wait=off`,
  ]);
  return { dir, qmp, server };
}

describe('QMP monitor', () => {
  it('greets, requires qmp_capabilities first, then answers queries', async () => {
    const { qmp } = await serverWithMonitor();
    const c = await monitor(qmp);
    expect(c.greeting).toMatchObject({
      QMP: { version: { package: expect.stringMatching(/^vfu-server /) }, capabilities: [] },
    });
    expect(await c.execute('query-pci', undefined, 'early')).toEqual({
      error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" },
      id: 'early',
    });
    expect(await c.execute('qmp_capabilities', undefined, 1)).toEqual({ return: {}, id: 1 });
    expect(await c.execute('qmp_capabilities')).toMatchObject({ error: { class: 'CommandNotFound' } });

    const pci = (await c.execute('query-pci')).return as Array<{
      endpoint: string;
      devices: Array<Record<string, unknown>>;
    }>;
    expect(pci.map((b) => b.endpoint)).toEqual(['s0', 's1']);
    expect(pci[0]?.devices[0]).toMatchObject({
      bus: 0,
      slot: 0,
      function: 0,
      qdev_id: 'edu0',
      id: { vendor: 0x1234, device: 0x11e8 },
      class_info: { class: 0x00ff },
      regions: [{ bar: 0, type: 'memory', size: 0x100000, address: -1, prefetch: false, mem_type_64: false }],
    });
    expect(pci[1]?.devices[0]).toMatchObject({ qdev_id: 'gpio0', id: { vendor: 0x494f, device: 0x0dc8 } });

    const devices = (await c.execute('query-devices')).return;
    expect(devices).toEqual([
      expect.objectContaining({ id: 'edu0', driver: 'edu', endpoint: 's0', addr: '00.0', served: true }),
      expect.objectContaining({ id: 'gpio0', driver: 'pci-idio-16', endpoint: 's1', served: true }),
    ]);
  });

  it('info mtree per root bus, info mtree -f, info qtree', async () => {
    const { qmp, dir } = await serverWithMonitor();
    const c = await negotiated(qmp);
    const mtree = (await c.execute('human-monitor-command', { 'command-line': 'info mtree' }))
      .return as string;
    expect(mtree).toContain(`endpoint s0 (${dir.join('edu.sock')}):`);
    expect(mtree).toContain(`endpoint s1 (${dir.join('gpio.sock')}):`);
    expect(mtree).toMatch(/address-space: s0 pci-io/);
    const one = (await c.execute('human-monitor-command', { 'command-line': 'info mtree -f s1' }))
      .return as string;
    expect(one).toContain('FlatView of address space');
    expect(one).not.toContain('endpoint s0');
    const qtree = (await c.execute('human-monitor-command', { 'command-line': 'info qtree' }))
      .return as string;
    expect(qtree).toMatch(/bus: s0\n/);
    expect(qtree).toContain('dev: edu, id "edu0"');
    expect(qtree).toContain('dev: pci-idio-16, id "gpio0"');
    expect(await c.execute('human-monitor-command', { 'command-line': 'info mtree nosuch' })).toMatchObject({
      error: { class: 'GenericError', desc: expect.stringContaining("no endpoint 'nosuch'") },
    });
  });

  it('hot-adds an endpoint and a device that a client can use, then removes them', async () => {
    const { qmp, dir, server } = await serverWithMonitor();
    const c = await negotiated(qmp);
    const sock = dir.join('hot.sock');
    expect(
      await c.execute(
        'object-add',
        { 'qom-type': 'vfio-user-server', id: 'hot', socket: { type: 'unix', path: sock } },
        'a',
      ),
    ).toEqual({ return: {}, id: 'a' });
    await server.waitForOutput(/endpoint hot device none listening on/);
    expect(await c.execute('device_add', { driver: 'pci-testdev', id: 'td1', bus: 'hot' }, 'b')).toEqual({
      return: {},
      id: 'b',
    });
    await server.waitForOutput(new RegExp(`endpoint hot device td1 \\(pci-testdev\\) listening on ${sock}`));
    const { info } = await probeEndpoint(sock);
    expect(info).toMatchObject({ numRegions: 9, numIrqs: 5 });
    // The other endpoints kept serving.
    expect((await probeEndpoint(dir.join('edu.sock'))).info.numRegions).toBe(9);

    expect(await c.execute('device_del', { id: 'td1' })).toEqual({ return: {} });
    const ev = await c.waitForEvent('DEVICE_DELETED');
    expect(ev, JSON.stringify(ev)).toMatchObject({ data: { device: 'td1', path: '/hot/td1' } });
    expect(await c.execute('object-del', { id: 'hot' })).toEqual({ return: {} });
    expect(exists(sock)).toBe(false);
    const ids = ((await c.execute('query-vfio-user-servers')).return as Array<{ id: string }>).map(
      (e) => e.id,
    );
    expect(ids).toEqual(['s0', 's1']);
  });

  it('device_add with socket= creates the endpoint; device_del removes both', async () => {
    const { qmp, dir, server } = await serverWithMonitor();
    const c = await negotiated(qmp);
    const sock = dir.join('edu2.sock');
    expect(
      await c.execute('device_add', { driver: 'edu', id: 'edu2', socket: sock, dma_mask: 0xffffffff }),
    ).toEqual({
      return: {},
    });
    await server.waitForOutput(new RegExp(`endpoint s2 device edu2 \\(edu\\) listening on ${sock}`));
    expect((await probeEndpoint(sock)).info.numRegions).toBe(9);
    expect(await c.execute('device_del', { id: 'edu2' })).toEqual({ return: {} });
    expect(exists(sock)).toBe(false);
  });

  it('bad commands get error replies with the id echoed, and the server keeps serving', async () => {
    const { qmp, dir } = await serverWithMonitor();
    const c = await negotiated(qmp);
    const cases: Array<[string, Record<string, unknown> | undefined, string, RegExp]> = [
      ['no-such-command', undefined, 'CommandNotFound', /The command no-such-command has not been found/],
      [
        'device_add',
        { driver: 'nosuch', bus: 's0' },
        'GenericError',
        /'nosuch' is not a valid device model name/,
      ],
      [
        'device_add',
        { driver: 'edu', bus: 's0', dma_mask: 'banana' },
        'GenericError',
        /property 'edu.dma_mask'/,
      ],
      ['device_add', { driver: 'edu', id: 'edu0', bus: 's0' }, 'GenericError', /Duplicate device ID 'edu0'/],
      ['device_add', { driver: 'edu' }, 'GenericError', /name the endpoint with bus=|no endpoint/],
      ['device_add', { driver: 'edu', bus: 'nowhere' }, 'GenericError', /Bus 'nowhere' not found/],
      ['device_add', { driver: 'edu', socket: dir.join('edu.sock') }, 'GenericError', /already used/],
      ['device_del', { id: 'ghost' }, 'DeviceNotFound', /Device 'ghost' not found/],
      ['device_del', {}, 'GenericError', /Parameter 'id' is missing/],
      ['object-add', { 'qom-type': 'memory-backend-ram', id: 'm' }, 'GenericError', /unknown object type/],
      [
        'object-add',
        { 'qom-type': 'vfio-user-server', id: 's0', socket: dir.join('x.sock') },
        'GenericError',
        /already exists/,
      ],
      ['object-del', { id: 'ghost' }, 'GenericError', /object 'ghost' not found/],
      ['human-monitor-command', { 'command-line': 'info registers' }, 'GenericError', /unknown or malformed/],
      ['gpio-set-inputs', { id: 'edu0', value: 1 }, 'GenericError', /has no GPIO inputs/],
      ['gpio-set-inputs', { id: 'gpio0', value: 0x10000 }, 'GenericError', /within 0\.\.0xffff/],
    ];
    for (const [i, [command, args, errorClass, desc]] of cases.entries()) {
      const reply = await c.execute(command, args, { n: i });
      expect(reply, command).toMatchObject({
        error: { class: errorClass, desc: expect.stringMatching(desc) },
        id: { n: i },
      });
    }
    expect(await c.sendRaw('{"execute": 42, "id": "raw"}\n')).toEqual({
      error: { class: 'GenericError', desc: "QMP input member 'execute' must be a string" },
      id: 'raw',
    });
    expect(await c.sendRaw('this is not json\n')).toMatchObject({ error: { class: 'GenericError' } });
    c.write('{"execute": "query-status"');
    expect(await c.sendRaw('}')).toEqual({ return: { status: 'running', running: true } });
    // Still serving, nothing was half-added.
    expect(((await c.execute('query-devices')).return as unknown[]).length).toBe(2);
    expect((await probeEndpoint(dir.join('edu.sock'))).info.numRegions).toBe(9);
  });

  it('gpio-set-inputs drives the GPIO inputs', async () => {
    const { qmp } = await serverWithMonitor();
    const c = await negotiated(qmp);
    expect(await c.execute('gpio-set-inputs', { id: 'gpio0', value: 0x00ff })).toEqual({
      return: { inputs: 0x00ff, outputs: 0 },
    });
    expect(await c.execute('gpio-set-inputs', { id: 'gpio0', value: 0x8000, mask: 0x8001 })).toEqual({
      return: { inputs: 0x80fe, outputs: 0 },
    });
  });

  it('qom-list, qom-get and qom-set work on device properties; static ones stay locked', async () => {
    const { qmp } = await serverWithMonitor();
    const c = await negotiated(qmp);
    const list = (await c.execute('qom-list', { path: '/machine/peripheral/gpio0' })).return as {
      name: string;
      type: string;
      settable: boolean;
    }[];
    expect(list).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'inputs', type: 'uint16', settable: true }),
        expect.objectContaining({ name: 'outputs', type: 'uint16', settable: false }),
        expect.objectContaining({ name: 'addr', settable: false }),
      ]),
    );
    expect(await c.execute('qom-set', { path: 'gpio0', property: 'inputs', value: 0x1234 })).toEqual({
      return: {},
    });
    expect(await c.execute('qom-get', { path: 'gpio0', property: 'inputs' })).toEqual({ return: 0x1234 });
    expect(await c.execute('qom-get', { path: 'gpio0', property: 'outputs' })).toEqual({ return: 0 });
    expect(await c.execute('qom-get', { path: 'edu0', property: 'dma_mask' })).toEqual({ return: 0xfffffff });
    const error = async (command: string, args: Record<string, unknown>) =>
      ((await c.execute(command, args)).error ?? {}) as { class?: string; desc?: string };
    expect((await error('qom-set', { path: 'edu0', property: 'dma_mask', value: 1 })).desc).toMatch(
      /cannot set 'dma_mask' on realized device/,
    );
    expect((await error('qom-set', { path: 'gpio0', property: 'outputs', value: 1 })).desc).toMatch(
      /read-only/,
    );
    expect((await error('qom-set', { path: 'gpio0', property: 'inputs', value: 0x10000 })).desc).toMatch(
      /out of range/,
    );
    expect((await error('qom-get', { path: 'nope', property: 'x' })).class).toBe('DeviceNotFound');
  });

  it('serves several monitor clients at once and sends them events', async () => {
    const { qmp, dir } = await serverWithMonitor();
    const a = await negotiated(qmp);
    const b = await negotiated(qmp);
    const late = await monitor(qmp);
    const [ra, rb] = await Promise.all([
      a.execute('query-status', undefined, 'a'),
      b.execute('query-status', undefined, 'b'),
    ]);
    expect(ra).toMatchObject({ id: 'a' });
    expect(rb).toMatchObject({ id: 'b' });
    await a.execute('device_add', { driver: 'edu', id: 'e9', socket: dir.join('e9.sock') });
    await a.execute('device_del', { id: 'e9' });
    expect(await b.waitForEvent('DEVICE_DELETED')).toMatchObject({ data: { device: 'e9' } });
    // No events before negotiation.
    expect(late.events).toEqual([]);
  });

  it('quit stops the server with exit 0 and removes every socket', async () => {
    const { qmp, dir, server } = await serverWithMonitor();
    const c = await negotiated(qmp);
    expect(await c.execute('quit', undefined, 'bye')).toEqual({ return: {}, id: 'bye' });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    for (const f of ['edu.sock', 'gpio.sock', 'qmp.sock']) expect(exists(dir.join(f))).toBe(false);
  });
});
