import { fc, test } from '@fast-check/vitest';
import { Command } from '@vfu/protocol';
import { describe, expect } from 'vitest';
import { DEVICE_ID_VALUE, REG } from '../test/support/device';
import { connected } from '../test/support/endpoint';

describe('random requests', () => {
  // Whatever a client sends, it gets exactly one reply (success or an errno) and the endpoint
  // keeps serving; nothing escapes as an exception.
  test('never crash the endpoint and always get an answer', async () => {
    const { client, logs } = await connected();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 20 }),
        fc.uint8Array({ minLength: 0, maxLength: 80 }),
        async (command, payload) => {
          const errno = await client.rawErrno(command, payload);
          expect(errno).toBeGreaterThanOrEqual(0);
          expect(errno).toBeLessThan(4096);
        },
      ),
      { numRuns: 300 },
    );
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
    // No unexpected failure inside the server (those are logged as errors).
    expect(logs.filter((l) => l.startsWith('error:'))).toEqual([]);
  });

  test.prop([
    fc.array(
      fc.tuple(
        fc.integer({ min: 0, max: 8 }),
        fc.bigInt({ min: 0n, max: 0x2000n }),
        fc.integer({ min: 0, max: 64 }),
      ),
      { maxLength: 30 },
    ),
  ])(
    'region reads of any index, offset and size either succeed with count bytes or fail with EINVAL',
    async (reads) => {
      const { client } = await connected();
      for (const [region, offset, count] of reads) {
        try {
          const data = await client.regionRead(region, offset, count);
          expect(data.length).toBe(count);
        } catch (e) {
          expect([22, 5]).toContain((e as { errno?: number }).errno);
        }
      }
      expect(await client.errno(Command.DeviceGetInfo, { argsz: 16 })).toBe(0);
    },
  );
});
