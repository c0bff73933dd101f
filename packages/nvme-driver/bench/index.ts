/**
 * NVMe over vfio-user from another process, mmap DMA: 4 KiB random reads and writes at queue
 * depth 1 and 32, on 1 and 4 queue pairs, null-co and file (on tmpfs) backends. Per case: IOPS,
 * p50/p99 latency as the driver sees it, and server CPU time per I/O (from /proc/PID/stat).
 * Ratios are to the first case of the same run. The server is pinned to CPU 0 and this process
 * to CPU 1 when `taskset` exists.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VfioUserClient } from '@vfu/client';
import { NvmeDriver } from '../src/index';
import { startNvmeServer } from '../test/server';

const DURATION_MS = Number(process.env.NVME_BENCH_MS ?? 2000);
const WARMUP_MS = 300;
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

interface Case {
  readonly name: string;
  readonly backend: 'null-co' | 'file';
  readonly op: 'randread' | 'randwrite';
  readonly qd: number;
  readonly queues: number;
}

const CASES: Case[] = [];
for (const backend of ['null-co', 'file'] as const) {
  for (const op of ['randread', 'randwrite'] as const) {
    for (const [qd, queues] of [
      [1, 1],
      [32, 1],
      [32, 4],
    ] as const) {
      CASES.push({ name: `${backend} ${op} qd${qd} q${queues}`, backend, op, qd, queues });
    }
  }
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function pin(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-pc', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function runCase(
  c: Case,
  dir: string,
): Promise<{ iops: number; p50: number; p99: number; cpuUs: number }> {
  const disk = join(dir, 'disk.img');
  if (c.backend === 'file') {
    writeFileSync(disk, '');
    truncateSync(disk, 256 << 20);
  }
  const server = await startNvmeServer(c.backend === 'file' ? `file:${disk}` : `null:${256 << 20}`, [], dir);
  pin(server.child.pid!, 0);
  const client = await VfioUserClient.connect(server.socketPath);
  const nvme = await NvmeDriver.attach(client, { ioQueues: c.queues, queueDepth: 64 });
  const blocks = nvme.namespaces[0]!.blocks;
  const buf = new Uint8Array(4096).fill(0xa5);
  const latencies: number[] = [];
  let ops = 0;
  let measuring = false;
  let stop = false;
  const worker = async (w: number): Promise<void> => {
    while (!stop) {
      const lba = Math.floor(Math.random() * (blocks / 8)) * 8;
      const t0 = process.hrtime.bigint();
      if (c.op === 'randread') await nvme.read(lba, 8, { queue: (w % c.queues) + 1 });
      else await nvme.write(lba, buf, { queue: (w % c.queues) + 1 });
      if (measuring) {
        latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
        ops++;
      }
    }
  };
  const workers = [...Array(c.qd).keys()].map(worker);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const cpu0 = cpuTicks(server.child.pid!);
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, DURATION_MS));
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = cpuTicks(server.child.pid!);
  stop = true;
  await Promise.all(workers);
  await nvme.close();
  await client.close();
  await server.stop();
  rmSync(disk, { force: true });
  latencies.sort((a, b) => a - b);
  const q = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return {
    iops: ops / elapsed,
    p50: q(0.5),
    p99: q(0.99),
    cpuUs: (((cpu1 - cpu0) / TICKS) * 1e6) / Math.max(ops, 1),
  };
}

const dir = mkdtempSync('/dev/shm/vfu-nvme-bench-');
const pinned = pin(process.pid, 1);
console.log(
  `NVMe over vfio-user, 4 KiB I/O, ${DURATION_MS} ms per case; server on CPU 0, driver on CPU 1: ${pinned ? 'pinned' : 'not pinned (no taskset)'}`,
);
console.log('case                          IOPS   ratio   p50 us   p99 us   server CPU us/IO');
let base: number | undefined;
try {
  for (const c of CASES) {
    const r = await runCase(c, dir);
    base ??= r.iops;
    console.log(
      `${c.name.padEnd(26)} ${r.iops.toFixed(0).padStart(8)} ${(r.iops / base).toFixed(2).padStart(6)}x ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.cpuUs.toFixed(2).padStart(10)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
