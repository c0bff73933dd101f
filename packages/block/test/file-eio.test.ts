/**
 * A real EIO under the file driver: nbdkit's error filter fails reads and writes on demand, and
 * nbdfuse exposes that export as a regular file through FUSE, so preadv/pwritev on the file get
 * EIO from the kernel exactly as from a failing disk.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { commandAvailable, makeTempDir } from '@vfu/test-utils';
import { expect, it, onTestFinished } from 'vitest';
import { FileBackend } from '../src/index';

function missing(): string | undefined {
  const why = !commandAvailable('nbdkit', ['--version'])
    ? 'nbdkit not found (Debian package nbdkit)'
    : !commandAvailable('nbdfuse', ['--version'])
      ? 'nbdfuse not found (Debian package libnbd-bin)'
      : !existsSync('/dev/fuse')
        ? '/dev/fuse is missing'
        : process.getuid?.() !== 0
          ? 'mounting FUSE here needs root'
          : undefined;
  if (why && process.env.CI === 'true') throw new Error(`the file EIO test cannot run under CI: ${why}`);
  return why;
}
const skip = missing();
if (skip) console.log(`skipping the file driver's real EIO test: ${skip}`);

function track(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return exited;
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it.skipIf(skip !== undefined)(
  'a disk that fails reads and writes gives io-failed errors with errno EIO',
  async () => {
    const dir = makeTempDir('vfu-eio-');
    onTestFinished(() => dir.remove());
    const sock = dir.join('nbd.sock');
    const fault = dir.join('fault');
    const mnt = dir.join('mnt');
    mkdirSync(mnt);
    track(
      spawn(
        'nbdkit',
        [
          '-f',
          '--exit-with-parent',
          '-U',
          sock,
          '--filter=error',
          'memory',
          'size=1M',
          'error-pread=EIO',
          'error-pread-rate=100%',
          `error-pread-file=${fault}`,
          'error-pwrite=EIO',
          'error-pwrite-rate=100%',
          `error-pwrite-file=${fault}`,
        ],
        { stdio: 'ignore' },
      ),
    );
    await waitFor(() => existsSync(sock), 'nbdkit');
    const fuse = spawn('nbdfuse', [mnt, '--unix', sock], { stdio: 'ignore' });
    const fuseExited = track(fuse);
    onTestFinished(async () => {
      try {
        execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
      } catch {}
      await fuseExited;
    });
    await waitFor(() => existsSync(`${mnt}/nbd`), 'the FUSE mount');

    const b = await FileBackend.open({ filename: `${mnt}/nbd` });
    onTestFinished(() => b.close());
    expect(b.size).toBe(1 << 20);
    await b.writev(0, new Uint8Array(4096).fill(7));
    const ok = new Uint8Array(4096);
    await b.readv(0, ok);
    expect(ok[0]).toBe(7);

    writeFileSync(fault, '');
    // Offsets not read before, so the page cache cannot answer.
    await expect(b.readv(512 * 1024, new Uint8Array(4096))).rejects.toMatchObject({
      code: 'io-failed',
      errnoName: 'EIO',
      errno: 5,
      context: { op: 'read', offset: 512 * 1024, length: 4096, driver: 'file' },
    });
    await expect(b.writev(256 * 1024, new Uint8Array(4096).fill(1), { fua: true })).rejects.toMatchObject({
      code: 'io-failed',
      errnoName: 'EIO',
      context: { op: 'write' },
    });
    rmSync(fault);
    // The disk recovered: the backend serves again.
    await b.readv(768 * 1024, new Uint8Array(4096));
  },
);
