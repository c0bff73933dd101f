// Benchmarks for @vfu/sys. Run: corepack pnpm --filter @vfu/sys bench (VFU_BENCH_TIME_MS shortens it).
import { runBenchSuite } from '@vfu/test-utils';
import { createMemfd, EventFd, MappedRegion, UnixSocket } from '../src/index';

const SIZE = 64 * 1024 * 1024;

// Mapped memory vs ordinary memory: is a shared mapping as fast as a Buffer for bulk copies?
{
  const source = Buffer.alloc(SIZE, 0x5a);
  const target = Buffer.alloc(SIZE);
  const memfd = createMemfd('bench', { size: SIZE });
  const region = MappedRegion.map(memfd);
  const mapped = region.bytes();
  await runBenchSuite({
    title: '@vfu/sys: 64 MiB copies, mapped memfd region vs Buffer',
    baseline: { name: 'Buffer -> Buffer copy (64 MiB)', fn: () => target.set(source) },
    cases: [
      { name: 'Buffer -> mapped region (write 64 MiB)', fn: () => mapped.set(source) },
      { name: 'mapped region -> Buffer (read 64 MiB)', fn: () => target.set(mapped) },
    ],
  });
  region.unmap();
  memfd.close();
}

// Per-message cost of the primitives the transport uses, in one process.
{
  const [a, b] = UnixSocket.pair();
  const msg = new Uint8Array(16);
  const buf = new Uint8Array(64 * 1024);
  const memfd = createMemfd('bench-fd', { size: 4096 });
  const bell = EventFd.create();
  await runBenchSuite({
    title: '@vfu/sys: 16-byte sendmsg + recvmsg on a socketpair (one process)',
    baseline: {
      name: 'sendmsg + recvmsg, no fd',
      fn: () => {
        a.sendmsg(msg);
        b.recvmsg(buf);
      },
    },
    cases: [
      {
        name: 'sendmsg + recvmsg, one fd (received fd closed)',
        fn: () => {
          a.sendmsg(msg, [memfd]);
          b.recvmsg(buf, 1)?.fds[0]?.close();
        },
      },
      {
        name: 'eventfd signal + read',
        fn: () => {
          bell.signal();
          bell.read();
        },
      },
      {
        name: 'memfd_create(4 KiB) + mmap + unmap + close',
        fn: () => {
          const fd = createMemfd('x', { size: 4096 });
          MappedRegion.map(fd).unmap();
          fd.close();
        },
      },
    ],
  });
  a.close();
  b.close();
  memfd.close();
  bell.close();
}
