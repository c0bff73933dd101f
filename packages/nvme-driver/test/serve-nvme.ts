/**
 * Serves one `-device nvme` over vfio-user for the driver's tests, as a separate process:
 * `tsx serve-nvme.ts SOCKET (file:PATH | null:BYTES) [key=value device properties...]`.
 * Prints `ready` once listening; exits on SIGTERM.
 */

import {
  type BlockBackend,
  BlockError,
  type IoVector,
  ioVectorLength,
  NullCoBackend,
  openBlockdev,
  type WriteFlags,
} from '@vfu/block';
import { consoleDeviceLog, nvme, registerDeviceTypes } from '@vfu/devices';
import { DeviceTree, DeviceTypeRegistry } from '@vfu/pci';
import { VfioUserServer } from '@vfu/server';

const [socketPath, drive, ...rest] = process.argv.slice(2);
if (socketPath === undefined || drive === undefined) {
  console.error('usage: serve-nvme.ts SOCKET (file:PATH | null:BYTES) [prop=value...]');
  process.exit(2);
}
/** `faulty:BYTES:OFFSET`: a null-co disk whose requests covering byte OFFSET fail with EIO. */
function faulty(spec: string): BlockBackend {
  const [size, at] = spec.split(':').map(Number) as [number, number];
  const inner = new NullCoBackend({ size, readZeroes: true });
  const covers = (offset: number, length: number): boolean => offset <= at && at < offset + length;
  const eio = (): Promise<never> =>
    Promise.reject(new BlockError('io-failed', 'injected media error', { errnoName: 'EIO' }));
  return Object.assign(Object.create(inner) as BlockBackend, {
    readv: (offset: number, iov: IoVector) =>
      covers(offset, ioVectorLength(iov)) ? eio() : inner.readv(offset, iov),
    writev: (offset: number, iov: IoVector, flags?: WriteFlags) =>
      covers(offset, ioVectorLength(iov)) ? eio() : inner.writev(offset, iov, flags),
  });
}

const backend = drive.startsWith('file:')
  ? await openBlockdev({ driver: 'file', 'node-name': 'd0', filename: drive.slice(5) })
  : drive.startsWith('faulty:')
    ? faulty(drive.slice(7))
    : await openBlockdev({
        driver: 'null-co',
        'node-name': 'd0',
        size: Number(drive.slice(5)),
        'read-zeroes': true,
      });
const registry = new DeviceTypeRegistry();
registerDeviceTypes(registry, [nvme], {
  ...(process.env.NVME_GUEST_ERRORS === '1' ? { log: consoleDeviceLog } : {}),
  resolveBlockdev: (name) => (name === 'd0' ? backend : undefined),
});
const tree = new DeviceTree({ registry });
const server = new VfioUserServer({ id: 's0', socketPath, tree });
const props = Object.fromEntries(rest.map((kv) => kv.split('=', 2) as [string, string]));
tree.deviceAdd({ driver: 'nvme', id: 'nvme0', bus: 's0', drive: 'd0', serial: 'deadbeef', ...props });
await server.start();
console.log('ready');
process.on('SIGTERM', () => {
  void server.close().finally(() => void backend.close().finally(() => process.exit(0)));
});
