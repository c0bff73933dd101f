// REGION_READ round trips and posted REGION_WRITEs driven by a small C client (bench/c), so that
// servers are compared with the same client on the same CPU: vfu's endpoint against a bare
// net.Socket server answering vfio-user frames (the baseline), and against libvfio-user's
// gpio-pci-idio-16 sample when VFU_BENCH_LIBVFIO_USER names a libvfio-user build directory (built
// by hand outside this repository). Every process is pinned to CPU 0; rounds alternate between
// servers so that noise hits all of them alike; figures are medians over the rounds.
// Run: corepack pnpm --filter @vfu/server bench:c
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandAvailable, makeTempDir, pinToCpu0, startBenchPeer } from '@vfu/test-utils';
import { REG } from '../test/support/device';

const CONFIG = 7;
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const dir = makeTempDir('vfu-cbench-');
const cc = process.env.CC ?? 'cc';
if (!commandAvailable(cc)) {
  console.log(`@vfu/server C-client bench skipped: no C compiler (${cc}) on PATH`);
  process.exit(0);
}
const client = join(dir.path, 'region-client');
execFileSync(cc, ['-O2', '-Wall', '-o', client, here('./c/region-client.c')], { stdio: 'inherit' });

const serverPath = dir.join('vfu.sock');
const echoPath = dir.join('echo.sock');
const peer = await startBenchPeer(here('./c-client-peer.ts'), [serverPath, echoPath]);

const lvuBuild = process.env.VFU_BENCH_LIBVFIO_USER;
const lvuPath = dir.join('lvu-gpio.sock');
let lvu: ReturnType<typeof spawn> | undefined;
if (lvuBuild !== undefined) {
  const sample = join(lvuBuild, 'samples', 'gpio-pci-idio-16');
  if (!existsSync(sample)) throw new Error(`VFU_BENCH_LIBVFIO_USER: ${sample} not found`);
  lvu = spawn(sample, [lvuPath], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(lvuPath); i++) await new Promise((r) => setTimeout(r, 20));
  pinToCpu0(lvu.pid as number);
} else {
  console.log(
    'libvfio-user: set VFU_BENCH_LIBVFIO_USER=<libvfio-user build dir> to compare with its gpio sample',
  );
}

const rounds = Number(process.env.VFU_BENCH_ROUNDS ?? 5);
const count = Number(process.env.VFU_BENCH_COUNT ?? 20000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function run(
  title: string,
  op: string,
  size: number,
  targets: readonly [string, string][],
  baseline: string,
): void {
  const args = [
    '--cpu',
    '0',
    '--rounds',
    String(rounds),
    '--count',
    String(count),
    '--op',
    op,
    '--size',
    String(size),
  ];
  const out = execFileSync(client, [...args, ...targets.map(([, spec]) => spec)], { encoding: 'utf8' });
  const rates = out
    .trim()
    .split('\n')
    .map((line) => median((JSON.parse(line) as { ops_per_sec: number[] }).ops_per_sec));
  const base = rates[targets.findIndex(([name]) => name === baseline)] as number;
  console.log(`\n${title} (C client, all pinned to CPU 0; median of ${rounds} rounds of ${count})`);
  console.log(`${'server'.padEnd(44)}${'ops/s'.padStart(10)}  ratio to ${baseline}`);
  targets.forEach(([name], i) => {
    const rate = rates[i] as number;
    console.log(`${name.padEnd(44)}${rate.toFixed(0).padStart(10)}  ${(rate / base).toFixed(2)}x`);
  });
}

const withLvu = lvu !== undefined;
run(
  '4-byte config-space REGION_READ round trips',
  'read',
  4,
  [
    ['bare net.Socket echo (Node)', `${echoPath}#${CONFIG}#0`],
    ['vfu endpoint, config space', `${serverPath}#${CONFIG}#0`],
    ...(withLvu
      ? [['libvfio-user gpio sample, config space', `${lvuPath}#${CONFIG}#0`] as [string, string]]
      : []),
  ],
  withLvu ? 'libvfio-user gpio sample, config space' : 'bare net.Socket echo (Node)',
);
run(
  '1-byte BAR REGION_READ round trips',
  'read',
  1,
  [
    ['bare net.Socket echo (Node)', `${echoPath}#0#0`],
    ['vfu endpoint, BAR0 register', `${serverPath}#0#${REG.SCRATCH}`],
    ...(withLvu ? [['libvfio-user gpio sample, BAR2 (IO)', `${lvuPath}#2#0`] as [string, string]] : []),
  ],
  withLvu ? 'libvfio-user gpio sample, BAR2 (IO)' : 'bare net.Socket echo (Node)',
);
if (withLvu) {
  run(
    'posted (No_reply) 1-byte REGION_WRITEs, one read per batch',
    'posted-write',
    1,
    [
      ['vfu endpoint, BAR0 register', `${serverPath}#0#${REG.SCRATCH}`],
      ['libvfio-user gpio sample, BAR2 (IO)', `${lvuPath}#2#0`],
    ],
    'libvfio-user gpio sample, BAR2 (IO)',
  );
}

lvu?.kill();
await peer.stop();
dir.remove();
