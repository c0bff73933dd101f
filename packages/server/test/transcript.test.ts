// Regression transcripts: recorded client messages replayed against an endpoint, replies compared.
import { readFileSync } from 'node:fs';
import { MemoryRegion } from '@vfu/memory';
import {
  DeviceTree,
  DeviceTypeRegistry,
  definePciDeviceClass,
  PciDevice,
  type PciDeviceInit,
} from '@vfu/pci';
import { channelPair } from '@vfu/transport';
import { describe, expect, onTestFinished, test } from 'vitest';
import { replayTranscript, type Transcript, VfioUserServer } from '../src/index';

/** Shaped like libvfio-user's gpio sample: IDs 494f:0dc8, a 256-byte IO BAR2, INTx, nothing else. */
class GpioLike extends PciDevice {
  constructor(init: PciDeviceInit) {
    super(init, { vendorId: 0x494f, deviceId: 0x0dc8, classCode: 0, interruptPin: 1 });
  }
  protected override realizePci(): void {
    const io = MemoryRegion.io('gpio', 0x100n, { read: () => 0, write: () => {} });
    this.registerBar(2, { kind: 'io', region: io });
  }
}

function endpoint() {
  const registry = new DeviceTypeRegistry();
  registry.register(
    definePciDeviceClass({
      name: 'gpio-like',
      description: 'gpio sample look-alike',
      create: (i) => new GpioLike(i),
    }),
  );
  const tree = new DeviceTree({ registry });
  const server = new VfioUserServer({ id: 'gpio', socketPath: '/nonexistent/gpio.sock', tree });
  tree.deviceAdd({ driver: 'gpio-like', bus: 'gpio' });
  const [a, b] = channelPair();
  server.attach(a);
  onTestFinished(async () => {
    await b.close();
    await server.close();
  });
  return b;
}

describe('transcripts', () => {
  test('libvfio-user gpio tour: the endpoint answers as the reference server did', async () => {
    const file = JSON.parse(
      readFileSync(new URL('./transcripts/libvfio-user-gpio-tour.json', import.meta.url), 'utf8'),
    ) as { messages: Transcript };
    const client = endpoint();
    expect(await replayTranscript(client, file.messages)).toEqual([]);
  });

  test('a reply that differs from the recording is reported with both forms', async () => {
    const client = endpoint();
    await expect(replayTranscript(client, [{ dir: 'c2s', hex: 'zz' }])).rejects.toMatchObject({
      code: 'invalid-option',
    });
    // DEVICE_GET_INFO recorded as answering 8 regions: our 9 must show up as a mismatch.
    const version = '0000010014000000000000000000000000000000';
    const getInfo = '0000040020000000000000000000000010000000000000000000000000000000';
    const recorded = '0000040020000000010000000000000010000000030000000800000005000000';
    const mismatches = await replayTranscript(client, [
      { dir: 'c2s', hex: version },
      { dir: 'c2s', hex: getInfo },
      { dir: 's2c', hex: recorded, note: 'eight regions' },
    ]);
    expect(mismatches).toEqual([
      {
        index: 2,
        expected: '0000040020000000010000000000000010000000030000000800000005000000',
        actual: '0000040020000000010000000000000010000000030000000900000005000000',
        note: 'eight regions',
      },
    ]);
  });
});
