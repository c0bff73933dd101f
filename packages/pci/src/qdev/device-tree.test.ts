import { describe, expect, test } from 'vitest';
import { RecordingSink, type TestPciDevice, testDeviceClass } from '../../test/helpers';
import { isPciError, isQdevError, type QdevError } from '../errors';
import { PciRootBus } from '../pci-bus';
import { Bus, Device, type HotplugHandler } from './device';
import { DeviceTree } from './device-tree';
import { prop } from './properties';
import { DeviceTypeRegistry } from './registry';

function qdevError(fn: () => unknown): QdevError {
  try {
    fn();
  } catch (e) {
    if (isQdevError(e)) return e;
    throw e;
  }
  throw new Error('expected a QdevError');
}

function makeTree(...busIds: string[]) {
  const registry = new DeviceTypeRegistry();
  registry.register(testDeviceClass('test-dev'));
  const tree = new DeviceTree({ registry });
  const buses = busIds.map((id) => {
    const bus = new PciRootBus({ id, interruptSink: new RecordingSink() });
    tree.addRootBus(bus);
    return bus;
  });
  return { tree, registry, buses };
}

describe('DeviceTree', () => {
  test('several trees coexist without shared state', () => {
    const a = makeTree('s0');
    const b = makeTree('s0');
    a.tree.deviceAdd({ driver: 'test-dev', id: 'x' });
    expect(b.tree.findDevice('x')).toBeUndefined();
    b.tree.deviceAdd({ driver: 'test-dev', id: 'x' });
    expect(a.tree.findDevice('x')).not.toBe(b.tree.findDevice('x'));
  });

  test('deviceAdd on the only bus needs no bus=', () => {
    const { tree, buses } = makeTree('s0');
    const dev = tree.deviceAdd({ driver: 'test-dev', id: 'd0', level: '0x7' });
    expect(dev.parentBus).toBe(buses[0]);
    expect(dev.realized).toBe(true);
    expect(dev.getProperty('level')).toBe(7);
    expect((dev as TestPciDevice).devfn).toBe(0);
  });

  test('with several root buses and none named, the error lists the candidates', () => {
    const { tree } = makeTree('s0', 's1', 's2');
    const err = qdevError(() => tree.deviceAdd({ driver: 'test-dev', id: 'd0' }));
    expect(err.code).toBe('ambiguous-bus');
    expect(err.context.candidates).toEqual(['s0', 's1', 's2']);
    expect(err.message).toContain('s0, s1, s2');
    expect(tree.findDevice('d0')).toBeUndefined();
  });

  test('lookup by id and by path works across all root buses', () => {
    const { tree, buses } = makeTree('s0', 's1');
    const a = tree.deviceAdd({ driver: 'test-dev', id: 'a', bus: 's0' });
    const b = tree.deviceAdd({ driver: 'test-dev', id: 'b', bus: 's1', addr: '03.0' });
    const anon = tree.deviceAdd({ driver: 'test-dev', bus: 's1' });
    expect(tree.findDevice('a')).toBe(a);
    expect(tree.findDevice('b')).toBe(b);
    expect(tree.findByPath('/s1/b')).toBe(b);
    expect(tree.findByPath('/s0/a')).toBe(a);
    expect(tree.findByPath('/s0/b')).toBeUndefined();
    expect(tree.findByPath('/s1')).toBe(buses[1]);
    expect(anon.path).toBe('/s1/test-dev[1]');
    expect(tree.findByPath(anon.path)).toBe(anon);
    expect(b.path).toBe('/s1/b');
    expect((b as TestPciDevice).devfn).toBe(0x18);
    expect([...tree.devices()]).toEqual([a, b, anon]);
  });

  test('duplicate ids are refused across buses', () => {
    const { tree } = makeTree('s0', 's1');
    tree.deviceAdd({ driver: 'test-dev', id: 'x', bus: 's0' });
    const err = qdevError(() => tree.deviceAdd({ driver: 'test-dev', id: 'x', bus: 's1' }));
    expect(err.code).toBe('duplicate-id');
    expect(err.context.deviceId).toBe('x');
  });

  test('unknown driver, unknown bus, bad property and bad id are clear errors', () => {
    const { tree } = makeTree('s0');
    expect(qdevError(() => tree.deviceAdd({ driver: 'nope' })).message).toContain('test-dev');
    expect(qdevError(() => tree.deviceAdd({ driver: 'nope' })).code).toBe('unknown-driver');
    const noBus = qdevError(() => tree.deviceAdd({ driver: 'test-dev', bus: 's9' }));
    expect(noBus.code).toBe('bus-not-found');
    expect(noBus.message).toContain('s0');
    expect(qdevError(() => tree.deviceAdd({ driver: 'test-dev', colour: 'red' })).code).toBe(
      'unknown-property',
    );
    expect(qdevError(() => tree.deviceAdd({ driver: 'test-dev', level: '300' })).code).toBe(
      'property-out-of-range',
    );
    expect(qdevError(() => tree.deviceAdd({ driver: 'test-dev', addr: '20.0' })).code).toBe(
      'property-out-of-range',
    );
    expect(qdevError(() => tree.deviceAdd({ driver: 'test-dev', addr: 'zz' })).code).toBe(
      'invalid-property-value',
    );
    expect(qdevError(() => tree.deviceAdd({ driver: 'test-dev', id: '9bad' })).code).toBe('invalid-id');
    expect([...tree.devices()]).toHaveLength(0);
  });

  test('no bus of the right type', () => {
    const registry = new DeviceTypeRegistry();
    registry.register(testDeviceClass('test-dev'));
    const tree = new DeviceTree({ registry });
    tree.addRootBus(new Bus({ id: 'i2c0', busTypes: ['I2C'] }));
    expect(qdevError(() => tree.deviceAdd({ driver: 'test-dev' })).code).toBe('no-suitable-bus');
    expect(qdevError(() => tree.deviceAdd({ driver: 'test-dev', bus: 'i2c0' })).code).toBe('wrong-bus-type');
  });

  test('a full bus is reported, and automatic choice skips full buses', () => {
    const { tree, buses } = makeTree('s0', 's1');
    for (let slot = 0; slot < 32; slot++) tree.deviceAdd({ driver: 'test-dev', bus: 's0' });
    expect(buses[0]?.full).toBe(true);
    const onlyFree = tree.deviceAdd({ driver: 'test-dev' });
    expect(onlyFree.parentBus).toBe(buses[1]);
    expect(qdevError(() => tree.deviceAdd({ driver: 'test-dev', bus: 's0' })).code).toBe('bus-full');
    for (let slot = 1; slot < 32; slot++) tree.deviceAdd({ driver: 'test-dev', bus: 's1' });
    const err = qdevError(() => tree.deviceAdd({ driver: 'test-dev' }));
    expect(err.code).toBe('bus-full');
    expect(err.context.candidates).toEqual(['s0', 's1']);
  });

  test('devfn conflicts and multifunction rules', () => {
    const { tree } = makeTree('s0');
    tree.deviceAdd({ driver: 'test-dev', id: 'a', addr: '04.0' });
    try {
      tree.deviceAdd({ driver: 'test-dev', id: 'b', addr: '04.0' });
      expect.unreachable();
    } catch (e) {
      expect(isPciError(e) && e.code).toBe('devfn-in-use');
    }
    expect(() => tree.deviceAdd({ driver: 'test-dev', id: 'c', addr: '04.1' })).toThrow(/single function/);
    tree.deviceAdd({ driver: 'test-dev', id: 'm0', addr: '05.0', multifunction: 'on' });
    const f1 = tree.deviceAdd({ driver: 'test-dev', id: 'm1', addr: '05.1' }) as TestPciDevice;
    expect(f1.devfn).toBe(0x29);
    expect(() => tree.deviceAdd({ driver: 'test-dev', id: 'x', addr: '06.2' })).not.toThrow();
    expect(() => tree.deviceAdd({ driver: 'test-dev', id: 'y', addr: '06.0' })).toThrow(
      /indicates single function/,
    );
  });

  test('realize failure leaves nothing plugged', () => {
    const registry = new DeviceTypeRegistry();
    registry.register(
      testDeviceClass('broken', (dev) => {
        dev.registerBar(0, { kind: 'mem32', region: { size: 3n } as never });
      }),
    );
    const tree = new DeviceTree({ registry });
    const bus = new PciRootBus({ id: 's0' });
    tree.addRootBus(bus);
    expect(() => tree.deviceAdd({ driver: 'broken', id: 'b' })).toThrow();
    expect(tree.findDevice('b')).toBeUndefined();
    expect(bus.functions).toHaveLength(0);
  });

  test('hotplug needs a hotplug handler once init is done; unplug runs handler and unrealize', () => {
    const { tree, buses } = makeTree('s0', 's1');
    tree.deviceAdd({ driver: 'test-dev', id: 'cold', bus: 's1' });
    tree.completeInit();
    expect(qdevError(() => tree.deviceAdd({ driver: 'test-dev', bus: 's0' })).code).toBe('not-hotpluggable');
    const calls: string[] = [];
    const handler: HotplugHandler = {
      prePlug: (d) => calls.push(`pre ${d.id}`),
      plug: (d) => calls.push(`plug ${d.id} ${d.realized}`),
      unplug: (d) => calls.push(`unplug ${d.id}`),
    };
    (buses[0] as PciRootBus).hotplugHandler = handler;
    const hot = tree.deviceAdd({ driver: 'test-dev', id: 'hot', bus: 's0' }) as TestPciDevice;
    expect(calls).toEqual(['pre hot', 'plug hot true']);
    expect(tree.deviceDel('hot')).toBe('removed');
    expect(calls).toContain('unplug hot');
    expect(hot.realized).toBe(false);
    expect(hot.log).toEqual(['realize', 'unrealize']);
    expect(tree.findDevice('hot')).toBeUndefined();
    expect(qdevError(() => tree.deviceDel('cold')).code).toBe('not-hotpluggable');
    expect(qdevError(() => tree.deviceDel('ghost')).code).toBe('device-not-found');
  });

  test('guest-cooperative unplug completes when the handler calls back', () => {
    const { tree, buses } = makeTree('s0');
    let complete: (() => void) | undefined;
    (buses[0] as PciRootBus).hotplugHandler = { unplugRequest: (_d, _b, done) => (complete = done) };
    tree.deviceAdd({ driver: 'test-dev', id: 'd' });
    expect(tree.deviceDel('/s0/d')).toBe('requested');
    expect(tree.findDevice('d')).toBeDefined();
    complete?.();
    expect(tree.findDevice('d')).toBeUndefined();
  });

  test('properties are locked after realize', () => {
    const { tree } = makeTree('s0');
    const dev = tree.deviceAdd({ driver: 'test-dev', id: 'd' });
    expect(qdevError(() => dev.setProperty('level', 1)).code).toBe('property-locked');
  });

  test('realize/unrealize are symmetric and can be repeated', () => {
    const { tree, buses } = makeTree('s0');
    const dev = tree.deviceAdd({ driver: 'test-dev', id: 'd', addr: '02.0' }) as TestPciDevice;
    expect(qdevError(() => dev.realize()).code).toBe('already-realized');
    dev.unrealize();
    expect(buses[0]?.deviceAt(0x10)).toBeUndefined();
    expect(qdevError(() => dev.unrealize()).code).toBe('not-realized');
    dev.realize();
    expect(buses[0]?.deviceAt(0x10)).toBe(dev);
    expect(dev.log).toEqual(['realize', 'unrealize', 'realize']);
  });

  test('resetAll resets devices on every root bus', () => {
    const { tree } = makeTree('s0', 's1');
    const a = tree.deviceAdd({ driver: 'test-dev', id: 'a', bus: 's0' }) as TestPciDevice;
    const b = tree.deviceAdd({ driver: 'test-dev', id: 'b', bus: 's1' }) as TestPciDevice;
    tree.resetAll('cold');
    expect(a.log).toContain('reset:cold');
    expect(b.log).toContain('reset:cold');
  });

  test('child buses of devices are found by id and path', () => {
    class Bridge extends Device {
      readonly child = new Bus({ id: 'i2c.0', busTypes: ['I2C'] });
      constructor() {
        super({ driver: 'bridge', id: 'br', schema: {}, props: {} });
        this.addChildBus(this.child);
      }
    }
    class Leaf extends Device {}
    const tree = new DeviceTree();
    const root = new Bus({ id: 'main', busTypes: ['SYS'] });
    tree.addRootBus(root);
    const br = new Bridge();
    tree.plug(br, root);
    const leaf = new Leaf({ driver: 'leaf', id: 'eeprom', schema: {}, props: {} });
    tree.plug(leaf, 'i2c.0');
    expect(tree.findBus('i2c.0')).toBe(br.child);
    expect(tree.findByPath('/main/br/i2c.0/eeprom')).toBe(leaf);
    expect(tree.findDevice('eeprom')).toBe(leaf);
    expect(tree.dumpQtree()).toContain('\n    bus: i2c.0\n      type I2C');
    br.unrealize();
    expect(leaf.realized).toBe(false);
  });

  test('root bus ids are unique and removal unrealizes devices', () => {
    const { tree, buses } = makeTree('s0');
    expect(qdevError(() => tree.addRootBus(new PciRootBus({ id: 's0' }))).code).toBe('duplicate-bus');
    const dev = tree.deviceAdd({ driver: 'test-dev', id: 'd' });
    tree.removeRootBus(buses[0] as PciRootBus);
    expect(dev.realized).toBe(false);
    expect(tree.rootBuses).toHaveLength(0);
  });

  test('deviceAddFromString and qtree dump', () => {
    const { tree } = makeTree('s0', 's1');
    tree.deviceAddFromString('test-dev,id=e0,bus=s1,addr=04.0,level=9');
    const dump = tree.dumpQtree();
    expect(dump).toContain('bus: s0\n  type PCIE\n');
    expect(dump).toContain('bus: s1');
    expect(dump).toContain('  dev: test-dev, id "e0"');
    expect(dump).toContain('    addr = 04.0');
    expect(dump).toContain('    level = 9');
    expect(dump).toContain('    class Class 00ff, addr 00:04.0, pci id 1234:5678 (sub 0000:0000)');
  });
});

describe('DeviceTypeRegistry', () => {
  test('register, list and help', () => {
    const registry = new DeviceTypeRegistry();
    registry.register(testDeviceClass('b-dev'));
    registry.register(testDeviceClass('a-dev'));
    expect(registry.list().map((c) => c.name)).toEqual(['a-dev', 'b-dev']);
    expect(qdevError(() => registry.register(testDeviceClass('a-dev'))).code).toBe('duplicate-driver');
    expect(registry.help()).toContain('Misc devices:\nname "a-dev", bus PCI, desc "test device a-dev"');
    const help = registry.help('a-dev');
    expect(help).toContain('  level=<uint8> - a test knob (default: 3)');
    expect(help).toContain('  addr=<int32>');
  });

  test('create builds an unrealized device with parsed properties', () => {
    const registry = new DeviceTypeRegistry();
    registry.register({
      name: 'plain',
      description: 'plain',
      busType: 'SYS',
      properties: { size: prop.uint64({ default: 4096n }) },
      create: (init) => new (class extends Device {})(init),
    });
    const dev = registry.create('plain', { id: 'p', props: { size: '0x2000' } });
    expect(dev.realized).toBe(false);
    expect(dev.getProperty('size')).toBe(0x2000n);
  });
});
