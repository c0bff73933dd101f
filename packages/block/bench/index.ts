// 4 KiB random reads and writes through each driver, as ratios to a null-co read measured in the
// same run. Run: corepack pnpm --filter @vfu/block bench (VFU_BENCH_TIME_MS shortens it).
//
// This process and nbdkit are pinned to CPU 0 when taskset exists (libuv's threadpool threads
// inherit the pinning), so the figures compare the drivers' costs, not cross-CPU wake-ups; the
// header says which applied. The file image lives on /dev/shm (tmpfs), so no disk is measured.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandAvailable, pinToCpu0, runBenchSuite } from '@vfu/test-utils';
import { type BlockBackend, FileBackend, NbdBackend, NullCoBackend } from '../src/index';

const SIZE = 64 * 1024 * 1024;
const BLOCK = 4096;
const QD = 32;

let seed = 12345;
function randomOffset(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return (seed % (SIZE / BLOCK)) * BLOCK;
}

const buffers = Array.from({ length: QD }, () => new Uint8Array(BLOCK).fill(0x5a));

function qd1(b: BlockBackend, op: 'read' | 'write') {
  return () => (op === 'read' ? b.readv(randomOffset(), buffers[0]!) : b.writev(randomOffset(), buffers[0]!));
}

function qd32(b: BlockBackend, op: 'read' | 'write') {
  return () =>
    Promise.all(
      buffers.map((buf) => (op === 'read' ? b.readv(randomOffset(), buf) : b.writev(randomOffset(), buf))),
    );
}

const pinned = pinToCpu0(process.pid);
const dir = mkdtempSync('/dev/shm/vfu-block-bench-');
const image = join(dir, 'disk.img');
writeFileSync(image, Buffer.alloc(SIZE, 1));

const nullCo = new NullCoBackend({ size: SIZE, readZeroes: true });
const file = await FileBackend.open({ filename: image });

let nbd: NbdBackend | undefined;
const nbdkit = commandAvailable('nbdkit')
  ? spawn('nbdkit', ['-f', '--exit-with-parent', '-U', join(dir, 'nbd.sock'), 'memory', `size=${SIZE}`], {
      stdio: 'ignore',
    })
  : undefined;
if (nbdkit) {
  if (pinned && nbdkit.pid !== undefined) pinToCpu0(nbdkit.pid);
  for (let i = 0; i < 100 && !nbd; i++) {
    nbd = await NbdBackend.open({ server: { type: 'unix', path: join(dir, 'nbd.sock') } }).catch(
      () => undefined,
    );
    if (!nbd) await sleep(50);
  }
  if (nbd) await nbd.writev(0, new Uint8Array(SIZE)); // allocate the memory plugin's pages
} else {
  console.log('nbdkit not found (Debian package nbdkit): the nbd cases are left out');
}

const cases = [
  { name: 'null-co write 4 KiB QD1', fn: qd1(nullCo, 'write') },
  { name: 'file (tmpfs) read 4 KiB QD1', fn: qd1(file, 'read') },
  { name: 'file (tmpfs) write 4 KiB QD1', fn: qd1(file, 'write') },
  { name: `file (tmpfs) read 4 KiB x${QD} in flight`, fn: qd32(file, 'read') },
  { name: `file (tmpfs) write 4 KiB x${QD} in flight`, fn: qd32(file, 'write') },
];
if (nbd) {
  cases.push(
    { name: 'nbd (nbdkit memory, unix) read 4 KiB QD1', fn: qd1(nbd, 'read') },
    { name: 'nbd (nbdkit memory, unix) write 4 KiB QD1', fn: qd1(nbd, 'write') },
    { name: `nbd (nbdkit memory, unix) read 4 KiB x${QD} in flight`, fn: qd32(nbd, 'read') },
    { name: `nbd (nbdkit memory, unix) write 4 KiB x${QD} in flight`, fn: qd32(nbd, 'write') },
  );
}

try {
  await runBenchSuite({
    title: `@vfu/block: 4 KiB random I/O per driver (${pinned ? 'process, threadpool and nbdkit pinned to CPU 0' : 'not pinned: taskset missing'})`,
    baseline: { name: 'null-co read 4 KiB QD1 (read-zeroes=on)', fn: qd1(nullCo, 'read') },
    cases,
  });
} finally {
  await Promise.all([nullCo.close(), file.close(), nbd?.close()]);
  nbdkit?.kill();
  rmSync(dir, { recursive: true, force: true });
}
