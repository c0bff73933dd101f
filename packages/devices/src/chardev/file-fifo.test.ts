import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test, vi } from 'vitest';
import { FileCharBackend } from './file';

function fifo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vfu-fifo-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'out.fifo');
  execFileSync('mkfifo', [path]);
  return path;
}

function reader(path: string): { fd: number; read(): string } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  onTestFinished(() => closeSync(fd));
  let text = '';
  return {
    fd,
    read() {
      const buf = Buffer.alloc(65536);
      try {
        const n = readSync(fd, buf);
        text += buf.subarray(0, n).toString();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      return text;
    },
  };
}

describe('file chardev on a FIFO', () => {
  test('a FIFO without a reader neither blocks opening nor writing; output reaches a reader that comes later', async () => {
    const path = fifo();
    const backend = new FileCharBackend(path);
    onTestFinished(() => backend.close());
    backend.write(new TextEncoder().encode('hello '));
    backend.write(new TextEncoder().encode('world'));
    const r = reader(path);
    await vi.waitFor(() => expect(r.read()).toBe('hello world'), { timeout: 5000, interval: 20 });
    backend.write(new TextEncoder().encode('!'));
    await vi.waitFor(() => expect(r.read()).toBe('hello world!'), { timeout: 5000, interval: 20 });
    expect(backend.dropped).toBe(0);
  });

  test('a reader that stops draining: output is buffered up to the cap, then dropped with one warning', () => {
    const path = fifo();
    reader(path);
    const warnings: string[] = [];
    const backend = new FileCharBackend(path, { maxBufferedBytes: 4096, warn: (m) => warnings.push(m) });
    onTestFinished(() => backend.close());
    const chunk = new Uint8Array(16 * 1024).fill(0x41);
    // Far more than the pipe (64 KiB) and the cap together: every call returns at once.
    for (let i = 0; i < 64; i++) backend.write(chunk);
    expect(backend.dropped).toBeGreaterThan(0);
    expect(backend.dropped).toBeLessThanOrEqual(64 * chunk.length - 4096);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/output dropped: more than 4096 bytes wait for the file/);
  });
});
