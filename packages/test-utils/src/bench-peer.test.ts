import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { pinToCpu0, startBenchPeer } from './bench-peer';
import { makeTempDir } from './temp-dir';

function tasksetWorks(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function peerScript(body: string): string {
  const dir = makeTempDir('vfu-peer-');
  onTestFinished(() => dir.remove());
  const path = dir.join('peer.ts');
  writeFileSync(path, body);
  return path;
}

describe('startBenchPeer', () => {
  it('resolves once the peer is ready, passes its arguments, and stops it by ending stdin', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const script = peerScript(
      [
        "process.stdout.write('ready\\n');",
        "const args = process.argv.slice(2).join('|');",
        "process.stdin.on('end', () => process.exit(args === 'a|b c' ? 7 : 1));",
        'process.stdin.resume();',
      ].join('\n'),
    );
    const peer = await startBenchPeer(script, ['a', 'b c']);
    expect(peer.child.exitCode).toBeNull();
    expect(peer.pinned).toBe(tasksetWorks());
    expect(log).toHaveBeenCalledWith(
      peer.pinned ? 'both processes pinned to CPU 0' : 'taskset unavailable: processes not pinned',
    );
    await peer.stop();
    expect(peer.child.exitCode).toBe(7);
  });

  it('rejects when the peer exits before it is ready', async () => {
    const script = peerScript('process.exit(3);');
    await expect(startBenchPeer(script, [])).rejects.toThrow(
      `bench peer ${script} exited (code 3, signal null) before it was ready`,
    );
  });
});

describe('pinToCpu0', () => {
  it('reports failure for a process that does not exist', () => {
    expect(pinToCpu0(2 ** 22 + 1)).toBe(false);
  });
});
