import { expect, describe as group, it } from 'vitest';
import { framed, le, rawMessage } from '../test/helpers';
import { Command } from './command';
import { describe } from './describe';

group('describe', () => {
  it('gives a one-line summary and a detailed form of a request', () => {
    const d = describe({
      kind: 'request',
      command: Command.DmaMap,
      msgId: 0x12,
      body: { argsz: 32, flags: 3, offset: 0n, addr: 0x20000n, size: 0x1000n },
      fds: [9],
    });
    expect(d.summary).toBe(
      'DMA_MAP request #0x12 argsz=32 flags=READ|WRITE offset=0x0 addr=0x20000 size=0x1000 (+1 fd)',
    );
    expect(d.detail.split('\n')).toEqual([
      'DMA_MAP request #0x12 (48 bytes)',
      '  argsz: 32',
      '  flags: READ|WRITE',
      '  offset: 0x0',
      '  addr: 0x20000',
      '  size: 0x1000',
      '  fds: 1',
    ]);
  });

  it('names regions, errors and no-reply writes', () => {
    expect(
      describe({
        kind: 'request',
        command: Command.RegionWrite,
        msgId: 1,
        noReply: true,
        body: { offset: 4n, region: 7, count: 2, data: Uint8Array.of(6, 0) },
      }).summary,
    ).toBe('REGION_WRITE request #0x1 no_reply region=7(CONFIG) offset=0x4 count=2 data=0600');
    expect(describe({ kind: 'error', command: 9, msgId: 0xf00f, errorNo: 22 }).summary).toBe(
      'REGION_READ reply #0xf00f ERROR EINVAL(22)',
    );
  });

  it('describes a received message that does not decode, with the reason', () => {
    const d = describe(framed(rawMessage({ msgId: 5, command: 99, payload: [1, 2, 3, 4] })));
    expect(d.summary).toContain('UNKNOWN(99) request #0x5 INVALID payload=01020304');
    expect(d.summary).toContain('[EINVAL]');
    const bad = describe(framed(rawMessage({ command: 4 })));
    expect(bad.detail).toContain('reason: DEVICE_GET_INFO request: payload is 0 bytes');
  });

  it('decodes a framed message before describing it', () => {
    const d = describe(
      framed(
        rawMessage({ command: 4, flags: 1, payload: le(['u32', 16], ['u32', 3], ['u32', 9], ['u32', 5]) }),
      ),
    );
    expect(d.summary).toBe('DEVICE_GET_INFO reply #0x1 argsz=16 flags=RESET|PCI num_regions=9 num_irqs=5');
  });
});
